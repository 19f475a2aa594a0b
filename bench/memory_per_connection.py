"""Python memory per idle connection, by where it is allocated (tracemalloc).

`python -m bench.memory_per_connection [--ws native|websockets-sansio|wsproto]` starts
`samepage serve` with tracemalloc on, opens 1,000 idle connections (s3's load: 100 rooms
x 10 clients, each synced and with an awareness state) from the Node load generator,
and prints the growth of traced memory per connection, total and by source line, next
to the growth of the server's RSS. tracemalloc counts Python objects and buffers only
(not uvloop's or the kernel's); RSS counts everything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

from bench.procs import free_port, rss_bytes
from bench.servers import BENCH, ROOT, VENV_PY

CONNECTIONS = (100, 10)  # rooms x clients


def _serve_traced(argv: list[str]) -> None:
    """In the server process: trace allocations; SIGUSR1 dumps a snapshot to a file."""
    tracemalloc.start(1)
    out = Path(os.environ["SAMEPAGE_TRACE_DIR"])
    count = [0]

    def dump(*_: object) -> None:
        count[0] += 1
        tracemalloc.take_snapshot().dump(str(out / f"snap{count[0]}.bin"))
        (out / f"snap{count[0]}.done").touch()

    signal.signal(signal.SIGUSR1, dump)
    from web.cli import main

    sys.exit(main(argv))


def _snapshot(proc: subprocess.Popen[bytes], trace_dir: Path, n: int) -> tracemalloc.Snapshot:
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while not (trace_dir / f"snap{n}.done").exists():
        if time.monotonic() > deadline:
            raise RuntimeError("no snapshot from the server")
        time.sleep(0.1)
    return tracemalloc.Snapshot.load(str(trace_dir / f"snap{n}.bin"))


def measure(ws: str) -> None:
    """Run the measurement once and print it."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="samepage-mem-") as tmp:
        env = {**os.environ, "SAMEPAGE_TRACE_DIR": tmp, "PYTHONPATH": str(ROOT)}
        args = ["serve", "--port", str(port), "--db", f"{tmp}/db.sqlite", "--ws", ws]
        args += ["--log-level", "warning", "--messages-per-second", "0"]
        code = f"from bench.memory_per_connection import _serve_traced; _serve_traced({args!r})"
        server = subprocess.Popen([str(VENV_PY), "-c", code], cwd=ROOT, env=env)
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            rooms, per_room = CONNECTIONS
            config = {
                "scenario": "idle",
                "rooms": rooms,
                "clientsPerRoom": per_room,
                "connectConcurrency": 50,
                "url": f"ws://127.0.0.1:{port}/ws",
                "roomPrefix": "m",
                "deadlineS": 300,
            }
            loadgen = subprocess.Popen(
                ["node", str(BENCH / "loadgen/main.js"), json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert loadgen.stdin is not None and loadgen.stdout is not None
            before = after = None
            rss0 = rss1 = established = 0
            for line in loadgen.stdout:
                event = json.loads(line)
                if event["event"] == "baseline":
                    time.sleep(1)
                    before, rss0 = _snapshot(server, Path(tmp), 1), rss_bytes(server.pid)
                    loadgen.stdin.write("go\n")
                    loadgen.stdin.flush()
                elif event["event"] == "connected":
                    established = event["count"]
                    time.sleep(2)
                    after, rss1 = _snapshot(server, Path(tmp), 2), rss_bytes(server.pid)
                    loadgen.stdin.write("go\n")
                    loadgen.stdin.flush()
                elif event["event"] == "result":
                    break
            loadgen.wait(30)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
    if before is None or after is None or not established:
        raise RuntimeError("the load generator did not connect")
    stats = after.compare_to(before, "lineno")
    total = sum(s.size_diff for s in stats)
    print(f"## --ws {ws}: {established} idle connections")
    print(f"traced Python memory: {total / established / 1024:.1f} KiB per connection")
    print(f"RSS growth:           {(rss1 - rss0) / established / 1024:.1f} KiB per connection")
    print("\nbytes per connection  where")
    for stat in sorted(stats, key=lambda s: -s.size_diff)[:15]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"{stat.size_diff / established:>10.0f}  {where}")


def main() -> int:
    """Measure with the chosen WebSocket server(s)."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory_per_connection")
    parser.add_argument("--ws", default="native", help="comma-separated --ws values")
    for ws in parser.parse_args().ws.split(","):
        measure(ws)
    return 0


if __name__ == "__main__":
    sys.exit(main())
