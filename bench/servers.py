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

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_PY = ROOT / ".venv" / "bin" / "python"
SERVER_CORE = "0"
LOADGEN_CORE = "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


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


def _node(script: Path) -> Callable[[int, Path], list[str]]:
    return lambda port, _work: ["node", str(script), str(port)]


def _python_module(module: str) -> Callable[[int, Path], list[str]]:
    return lambda port, _work: [str(VENV_PY), "-m", module, str(port)]


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
    ]
}


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU time spent by the whole machine so far (all cores, all processes)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def wait_quiet(max_wait_s: float, threshold: float = 0.25) -> float:
    """Wait (up to `max_wait_s`) until other work on the machine uses less than
    `threshold` cores; returns the last measured load. Other engineers run test suites
    on this machine: a benchmark step next to a browser test measures the test."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        load = machine_busy_seconds() - before
        if load < threshold or time.monotonic() > deadline:
            return round(load, 2)


def rss_bytes(pid: int) -> int:
    """Resident set size of a process."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class RunningServer:
    """A started server process, pinned to SERVER_CORE; `stop` ends it by its PID."""

    def __init__(self, spec: ServerSpec, work: Path, log_path: Path) -> None:
        self.spec = spec
        self.port = free_port()
        self.work = work
        env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), **dict(spec.env)}
        env["PYTHONPATH"] = str(ROOT)
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *spec.argv(self.port, work)],
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
        """Wait until the port accepts connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec.key} exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.spec.key} did not listen within {timeout} s")

    def stop(self) -> None:
        """SIGINT, then SIGKILL after 15 s; only this process."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
