"""A real `samepage serve` in a subprocess on a free loopback port, restartable."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
# The token secret of `secure_server` (tests/conftest.py): tests sign tokens with it.
TEST_SECRET = "test-server-secret-0123456789abcdef0123"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_cli(
    *args: str, timeout: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `samepage ARGS...` (another process, as an operator would) to its end;
    `env` adds variables to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _copy(source: Any, sink: Any) -> None:
    for line in iter(source.readline, b""):
        sink.write(line)
        sink.flush()


class LoopbackUrls:
    """`http` and `ws` base URLs of something listening on 127.0.0.1:`port`."""

    port: int

    @property
    def http(self) -> str:
        """Base HTTP URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        """Base WebSocket URL (append `/{room}`)."""
        return f"ws://127.0.0.1:{self.port}/ws"


class ServerProcess(LoopbackUrls):
    """`python -m web.cli serve` with its own database; start/stop/kill/restart."""

    def __init__(
        self,
        db: str | Path,
        port: int | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        log_via_pipe: bool = False,
    ) -> None:
        self.db = str(db)
        # The test process writes the log (from a pipe): a server under RLIMIT_FSIZE
        # cannot write files, and still has to say why.
        self.log_via_pipe = log_via_pipe
        self.port = port or free_port()
        self.extra_args = extra_args or []
        self.env = env or {}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: object | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait until /healthz answers."""
        cmd = [sys.executable, "-m", "web.cli", "serve", "--port", str(self.port)]
        cmd += ["--db", self.db, *self.extra_args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self._log_file = out
        if self.log_via_pipe and self.log_path:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            threading.Thread(target=_copy, args=(self.proc.stdout, out), daemon=True).start()
        else:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.http + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout}s: {self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server log (when logging to a file)."""
        if self.log_path and self.log_path.exists():
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig` and wait for the exit; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def kill(self) -> None:
        """kill -9."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        """Stop gracefully and start again on the same port and database."""
        self.stop()
        self.start()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def module_server(folder: Path, *extra_args: str) -> Iterator[ServerProcess]:
    """A server on a SQLite file in `folder` for a module-scoped fixture
    (`yield from module_server(...)`), its log in `folder/log`."""
    proc = ServerProcess(folder / "db.sqlite", extra_args=list(extra_args), log_path=folder / "log")
    proc.start()
    yield proc
    proc.stop()
