"""The servers under test: how to start each one pinned to a core, and how to watch it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.procs import (
    REDIS_URL,
    free_port,
    kill_leftovers,
    process_tree,
    started_at,
    tcp_inodes,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_PY = ROOT / ".venv" / "bin" / "python"
SERVER_CORE = "0"
LOADGEN_CORE = "1"
BOTH_CORES = "0,1"  # a server with 2 worker processes; the load generator shares core 1
# Other engineers' test suites share this machine: the server and the load generator run
# at a raised priority (nice -10 as root; SAMEPAGE_BENCH_NICE=0 turns it off), so what
# is measured is them, not the scheduler's share. Everything else still gets the rest.
_NICE = int(os.environ.get("SAMEPAGE_BENCH_NICE", "-10" if os.geteuid() == 0 else "0"))
PRIORITY = ["nice", "-n", str(_NICE)] if _NICE else []


def samepage_argv(db: str) -> Callable[[int, Path], list[str]]:
    """`samepage serve` with the per-connection message rate limit off (a benchmark
    writer sends thousands of updates a second on one socket); every other setting is
    the default, including SQLite synchronous=FULL."""

    def argv(port: int, work: Path) -> list[str]:
        target = str(work / "samepage.db") if db == "sqlite" else "memory://"
        return [
            str(VENV_PY),
            "-m",
            "web.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            target,
            "--log-level",
            "warning",
            "--messages-per-second",
            "0",
        ]

    return argv


PG_BENCH = "postgresql+asyncpg://postgres@127.0.0.1:5432"  # trust auth on loopback


def _psql(sql: str, *, check: bool) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", sql],
        check=check,
        capture_output=True,
    )


def _pg_bench_database(port: int) -> str:
    return f"samepage_bench_{port}"


def fresh_pg_database(port: int) -> str:
    """Drop and create the database of the server on `port`; returns its URL."""
    name = _pg_bench_database(port)
    _psql(f"DROP DATABASE IF EXISTS {name}", check=True)
    _psql(f"CREATE DATABASE {name}", check=True)
    return f"{PG_BENCH}/{name}"


def drop_pg_database(port: int) -> None:
    """Drop the database `fresh_pg_database` made for the server on `port`."""
    _psql(f"DROP DATABASE IF EXISTS {_pg_bench_database(port)}", check=False)


def samepage_workers_argv(workers: int, db: str = "sqlite") -> Callable[[int, Path], list[str]]:
    """`samepage serve --workers N` in cluster mode (Redis bus + one SQLite file, or a
    fresh PostgreSQL database with db="postgresql"), with the flags of `samepage_argv`.
    `--workers 1` runs one process that still goes through the bus, so against
    `--workers 2` the only difference is the worker count. The node id has the port in
    it: a run never meets the Redis keys of an earlier one."""
    single = samepage_argv("sqlite")

    def argv(port: int, work: Path) -> list[str]:
        args = single(port, work)
        if db == "postgresql":
            args[args.index("--db") + 1] = fresh_pg_database(port)
        cluster = ["--redis", REDIS_URL, "--node-id", f"bench-w{workers}-{port}"]
        return [*args, *cluster, "--workers", str(workers)]

    return argv


def samepage_affine_argv(db: str = "sqlite") -> Callable[[int, Path], list[str]]:
    """Two samepage nodes behind nginx with a consistent hash of the room path
    (bench/peers/affine.py), on one SQLite file or a fresh PostgreSQL database."""

    def argv(port: int, work: Path) -> list[str]:
        url = str(work / "samepage.db") if db == "sqlite" else fresh_pg_database(port)
        return [str(VENV_PY), "-m", "bench.peers.affine", str(port), url, str(work)]

    return argv


def _node(script: Path) -> Callable[[int, Path], list[str]]:
    return lambda port, _work: ["node", str(script), str(port)]


def _python_module(module: str) -> Callable[[int, Path], list[str]]:
    return lambda port, _work: [str(VENV_PY), "-m", module, str(port)]


def _layer(module: str, *more: str) -> Callable[[int, Path], list[str]]:
    """A WebSocket-layer peer (bench/peers/layer_*.py): samepage's sync layer and SQLite
    store behind another WebSocket server."""
    return lambda port, work: [
        str(VENV_PY),
        "-m",
        f"bench.peers.{module}",
        str(port),
        str(work / "samepage.db"),
        *more,
    ]


def _reference(port: int, _work: Path) -> list[str]:
    return ["node", str(BENCH / "peers/ref/node_modules/@y/websocket-server/src/server.js")]


@dataclass(frozen=True)
class ServerSpec:
    """One server under test."""

    key: str
    label: str
    argv: Callable[[int, Path], list[str]]
    ws_path: str = ""  # prefix before the room name in the WebSocket URL
    flavor: str = "y"  # "y" (y-websocket) or "hocuspocus" (document name in every message)
    has_document: bool = True  # the relay keeps no document
    env: tuple[tuple[str, str], ...] = ()
    cores: str = SERVER_CORE  # taskset's CPU list for the server and all its processes
    workers: int = 1  # processes listening on the port (SO_REUSEPORT)
    uses_redis: bool = False  # redis-server's CPU is reported next to the server's
    cleanup: Callable[[int], None] | None = None  # after stop, given the port


SERVERS: dict[str, ServerSpec] = {
    s.key: s
    for s in [
        ServerSpec("reference", "y-websocket-server 0.1.5 (reference)", _reference),
        ServerSpec(
            "hocuspocus",
            "Hocuspocus 3.4.4",
            _node(BENCH / "peers/hocuspocus.mjs"),
            "",
            "hocuspocus",
        ),
        ServerSpec(
            "pycrdt-websocket", "pycrdt-websocket 0.16.5", _python_module("bench.peers.pycrdt_ws")
        ),
        ServerSpec(
            "relay",
            "Starlette relay (no CRDT)",
            _python_module("bench.peers.relay"),
            has_document=False,
        ),
        ServerSpec("samepage", "samepage (SQLite)", samepage_argv("sqlite"), "/ws"),
        ServerSpec("samepage-memory", "samepage (memory://)", samepage_argv("memory"), "/ws"),
        # The WebSocket layer side by side: samepage's own protocol inside uvicorn (the
        # default, above) against uvicorn's ASGI implementations.
        ServerSpec(
            "samepage-sansio",
            "samepage (SQLite, uvicorn websockets-sansio ASGI)",
            samepage_argv("sqlite"),
            "/ws",
            env=(("SAMEPAGE_WS", "websockets-sansio"),),
        ),
        ServerSpec(
            "samepage-wsproto",
            "samepage (SQLite, uvicorn wsproto ASGI)",
            samepage_argv("sqlite"),
            "/ws",
            env=(("SAMEPAGE_WS", "wsproto"),),
        ),
        # ... and other WebSocket servers under samepage's sync layer and store.
        ServerSpec(
            "samepage-websockets",
            "samepage (SQLite, websockets asyncio server)",
            _layer("layer_websockets"),
            "/ws",
        ),
        ServerSpec("samepage-picows", "samepage (SQLite, picows)", _layer("layer_picows"), "/ws"),
        ServerSpec(
            "samepage-granian",
            "samepage (SQLite, granian ASGI)",
            _layer("layer_granian"),
            "/ws",
        ),
        ServerSpec(
            "samepage-granian-rsgi",
            "samepage (SQLite, granian RSGI)",
            _layer("layer_granian", "rsgi"),
            "/ws",
        ),
        ServerSpec(  # what keeping a new room's text timeline up to date costs (History)
            "samepage-no-timelines",
            "samepage (SQLite, --text-timelines 0)",
            samepage_argv("sqlite"),
            "/ws",
            env=(("SAMEPAGE_TEXT_TIMELINES", "0"),),
        ),
        ServerSpec(
            "samepage-w1",
            "samepage, 1 worker (Redis bus, core 0)",
            samepage_workers_argv(1),
            "/ws",
            uses_redis=True,
        ),
        ServerSpec(
            "samepage-w2",
            "samepage, 2 workers (Redis bus, cores 0+1)",
            samepage_workers_argv(2),
            "/ws",
            cores=BOTH_CORES,
            workers=2,
            uses_redis=True,
        ),
        ServerSpec(
            "samepage-affine",
            "samepage, 2 nodes behind nginx hashing the room (Redis bus, cores 0+1)",
            samepage_affine_argv(),
            "/ws",
            cores=BOTH_CORES,
            uses_redis=True,
        ),
        ServerSpec(
            "samepage-affine-pg",
            "samepage, 2 nodes behind nginx hashing the room (Redis bus, PostgreSQL, cores 0+1)",
            samepage_affine_argv("postgresql"),
            "/ws",
            cores=BOTH_CORES,
            uses_redis=True,
            cleanup=drop_pg_database,
        ),
        ServerSpec(
            "samepage-w1-pg",
            "samepage, 1 worker (Redis bus, PostgreSQL, core 0)",
            samepage_workers_argv(1, "postgresql"),
            "/ws",
            uses_redis=True,
            cleanup=drop_pg_database,
        ),
        ServerSpec(
            "samepage-w2-pg",
            "samepage, 2 workers (Redis bus, PostgreSQL, cores 0+1)",
            samepage_workers_argv(2, "postgresql"),
            "/ws",
            cores=BOTH_CORES,
            workers=2,
            uses_redis=True,
            cleanup=drop_pg_database,
        ),
    ]
}


class RunningServer:
    """A started server, pinned to its spec's cores; `stop` ends it by its PID (a
    `--workers` supervisor forwards the signal to its children)."""

    def __init__(self, spec: ServerSpec, work: Path, log_path: Path) -> None:
        self.spec = spec
        self.port = free_port()
        self.work = work
        env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), **dict(spec.env)}
        env["PYTHONPATH"] = str(ROOT)
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [*PRIORITY, "taskset", "-c", spec.cores, *spec.argv(self.port, work)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        """The server's PID (taskset execs the server, so it is the same process)."""
        return self.proc.pid

    @property
    def url(self) -> str:
        """The WebSocket base URL; the load generator appends `/<room>`."""
        return f"ws://127.0.0.1:{self.port}{self.spec.ws_path}"

    @property
    def http(self) -> str:
        """The HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until all the server's processes listen on the port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec.key} exited with {self.proc.returncode}")
            if self._accepts() and self._all_listen():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.spec.key} did not listen within {timeout} s")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _all_listen(self) -> bool:
        """Every worker must listen before the first client connects: the kernel
        spreads connections only over the sockets bound at that moment."""
        return self.spec.workers == 1 or len(tcp_inodes(self.port, "0A")) >= self.spec.workers

    def stop(self) -> list[int]:
        """SIGINT, then SIGKILL after 15 s. A process of its tree still alive after
        that (a worker its supervisor did not stop) is killed by PID too, and
        returned: there should be none."""
        workers = {p: started_at(p) for p in process_tree(self.pid) if p != self.pid}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        leftovers = kill_leftovers(workers)
        if self.spec.cleanup is not None:
            self.spec.cleanup(self.port)
        return leftovers
