"""`samepage serve --workers N`: N server processes on one machine, sharing one port
(SO_REUSEPORT: the kernel spreads connections over them) and their rooms through the
same cluster mechanism as separate machines (Redis bus + a shared database).

The parent only supervises: it migrates the database once, starts the children (each
its own `samepage serve` with node id `<node-id>-w<i>`), restarts a child that dies,
forwards SIGTERM/SIGINT and exits when they have all stopped.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from web.settings import Settings

log = logging.getLogger("samepage.web")
RESTART_DELAY_S = 1.0
QUICK_EXIT_S = 5.0  # a worker that exits this soon after starting did not start
MAX_QUICK_EXITS = 3


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket bound with SO_REUSEPORT, for uvicorn's `sockets=`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _die_with_parent() -> None:
    """In the child (Linux): get SIGTERM if the supervisor dies, even by kill -9."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def check_workers(settings: Settings) -> str | None:
    """Why these settings cannot run several workers, or None."""
    if not settings.redis:
        return "--workers needs --redis: the workers share rooms through the cluster bus"
    if settings.db.startswith("memory://"):
        return "--workers needs a database all workers share (a SQLite file or PostgreSQL)"
    return None


def workers_advice(settings: Settings) -> str | None:
    """A warning for settings that run but scale badly, or None."""
    if not settings.db.startswith("postgresql"):
        return (
            "the workers share one SQLite file: their commits serialize on its write lock "
            "(bench s7: 2 workers sustained a quarter of what 1 did); use PostgreSQL"
        )
    return None


async def _migrate(settings: Settings) -> None:
    # Once, before any child starts: SQLite cannot run concurrent schema migrations.
    from web.app import make_store

    store = make_store(settings)
    await store.start()
    await store.aclose()


def run_workers(settings: Settings, argv: list[str]) -> int:
    """Supervise `settings.workers` children until SIGTERM/SIGINT; returns an exit code."""
    problem = check_workers(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    advice = workers_advice(settings)
    if advice:
        print(f"warning: {advice}", file=sys.stderr)
    asyncio.run(_migrate(settings))
    base = settings.node_id or socket.gethostname() or "node"

    def child_cmd(index: int) -> list[str]:
        # argparse keeps the last value of a repeated flag: ours override the user's.
        return [
            sys.executable,
            "-m",
            "web.cli",
            *argv,
            "--workers",
            "1",
            "--reuse-port",
            "--node-id",
            f"{base}-w{index}",
        ]

    def spawn(index: int) -> subprocess.Popen[bytes]:
        # Own session: a terminal's Ctrl-C reaches only us, and we forward it once
        # (a second SIGINT would make uvicorn skip its graceful shutdown).
        return subprocess.Popen(
            child_cmd(index), start_new_session=True, preexec_fn=_die_with_parent
        )

    children = {i: spawn(i) for i in range(settings.workers)}
    started = dict.fromkeys(children, time.monotonic())
    quick_exits: dict[int, int] = {}
    stopping: list[int] = []

    def forward(sig: int, _frame: FrameType | None) -> None:
        if not stopping:
            stopping.append(sig)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    print(
        f"samepage: {settings.workers} workers on {settings.host}:{settings.port} "
        f"(pids {' '.join(str(c.pid) for c in children.values())})",
        file=sys.stderr,
        flush=True,
    )
    codes: dict[int, int] = {}
    while True:
        for index, child in list(children.items()):
            code = child.poll()
            if code is None:
                continue
            if stopping:
                # Ended by the signal we forwarded: that is a clean stop.
                codes.setdefault(index, 0 if code == -stopping[0] else code)
                del children[index]
                continue
            quick = time.monotonic() - started[index] < QUICK_EXIT_S
            quick_exits[index] = quick_exits.get(index, 0) + 1 if quick else 0
            if quick_exits[index] >= MAX_QUICK_EXITS:  # it cannot start: give up, all of us
                print(f"samepage: worker {index} keeps failing; stopping", file=sys.stderr)
                forward(signal.SIGTERM, None)
                codes[index] = code if code > 0 else 1
                del children[index]
                continue
            print(
                f"samepage: worker {index} exited with {code}; restarting",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(RESTART_DELAY_S)
            children[index] = spawn(index)
            started[index] = time.monotonic()
        if not children:
            return max(codes.values(), default=0)
        time.sleep(0.1)
