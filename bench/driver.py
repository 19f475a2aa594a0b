"""Running the load generator against one server and sampling the server meanwhile."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.servers import (
    BENCH,
    LOADGEN_CORE,
    ROOT,
    RunningServer,
    cpu_seconds,
    machine_busy_seconds,
    rss_bytes,
    wait_quiet,
)

SETTLE_S = 2.0  # before sampling memory: let the allocator and the GC settle
DISTURBED_CORES = 0.35  # other processes' CPU during a step that voids it
STEP_REPEATS = 2  # how often one ramp step is measured again when disturbed
REPEAT_BUDGET = [float("inf")]  # monotonic time after which nothing is repeated


class _Follower:
    """Reads the load generator's events; samples CPU per step and memory on request."""

    def __init__(self, proc: subprocess.Popen[str], server: RunningServer) -> None:
        self.proc = proc
        self.server = server
        self.server_cpu: list[float] = []
        self.other_cpu: list[float] = []
        self.memory: dict[str, int] = {}
        self.repeats: dict[int, int] = {}
        self.began = (0.0, 0.0, 0.0, 0.0)
        self.result: dict[str, Any] = {"error": "load generator ended without a result"}

    def _sample(self) -> tuple[float, float, float, float]:
        return (
            time.monotonic(),
            cpu_seconds(self.server.pid),
            cpu_seconds(self.proc.pid),
            machine_busy_seconds(),
        )

    def _verdict(self, step: dict[str, Any], other: float) -> None:
        """Tell the load generator whether to keep a ramp step or measure it again."""
        assert self.proc.stdin is not None
        rate = step["rate"]
        again = (
            other > DISTURBED_CORES
            and self.repeats.get(rate, 0) < STEP_REPEATS
            and time.monotonic() < REPEAT_BUDGET[0]
        )
        if again:
            self.repeats[rate] = self.repeats.get(rate, 0) + 1
            print(f"    other processes used {other:.2f} cores: measuring again", file=sys.stderr)
            wait_quiet(20)
        self.proc.stdin.write("again\n" if again else "go\n")
        self.proc.stdin.flush()

    def follow(self) -> None:
        """Handle events until the load generator's stdout closes."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                print(f"    loadgen: {line.rstrip()}", file=sys.stderr)
                continue
            kind = event.get("event")
            if kind == "log":
                print(f"    {event['msg']}", file=sys.stderr)
            elif kind == "step_begin":
                self.began = self._sample()
            elif kind == "step_end":
                now = self._sample()
                wall = now[0] - self.began[0]
                ours = now[1] - self.began[1]
                loadgen = now[2] - self.began[2]
                self.server_cpu.append(round(ours / wall, 2))
                # Everything else the machine did meanwhile (other engineers' tests...).
                other = (now[3] - self.began[3] - ours - loadgen) / wall
                self.other_cpu.append(round(max(0.0, other), 2))
                if "pass" in event:  # a ramp step: keep it or measure it again
                    print(
                        _step_line(event, self.server_cpu[-1], self.other_cpu[-1]), file=sys.stderr
                    )
                    self._verdict(event, self.other_cpu[-1])
            elif kind in ("baseline", "connected"):
                time.sleep(SETTLE_S)
                self.memory[kind] = rss_bytes(self.server.pid)
                self.proc.stdin.write("go\n")
                self.proc.stdin.flush()
            elif kind == "result":
                self.result = {k: v for k, v in event.items() if k != "event"}


def run_loadgen(server: RunningServer, config: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run one scenario; returns the load generator's result, with the server's CPU use
    per measured step and, for the idle scenario, its memory before and after."""
    config = {
        **config,
        "url": server.url,
        "httpBase": server.http,
        "flavor": server.spec.flavor,
        "deadlineS": timeout_s,
    }
    proc = subprocess.Popen(
        ["taskset", "-c", LOADGEN_CORE, "node", str(BENCH / "loadgen/main.js"), json.dumps(config)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    follower = _Follower(proc, server)
    try:
        follower.follow()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    result = follower.result
    for step in [*result.get("steps", []), *result.get("discardedSteps", [])]:
        seq = step.get("seq", -1)
        if 0 <= seq < len(follower.server_cpu):
            step["serverCpu"] = follower.server_cpu[seq]
            step["otherCpu"] = follower.other_cpu[seq]
    if follower.server_cpu and "steps" not in result:
        result["serverCpu"] = follower.server_cpu[-1]
        result["otherCpu"] = follower.other_cpu[-1]
    if follower.memory:
        result["rssBaseline"] = follower.memory.get("baseline")
        result["rssConnected"] = follower.memory.get("connected")
    result["serverAlive"] = server.proc.poll() is None
    return result


def _step_line(step: dict[str, Any], server_cpu: float, other_cpu: float) -> str:
    lat = step["latencyMs"]
    verdict = "ok" if step["pass"] else "FAIL"
    return (
        f"    {step['rate']:>6}/s sent {step['sendRate']:>6}/s deliveries "
        f"{step['deliveriesPerS']:>7}/s lost {step['lost']:>6} p50 {lat['p50']} p99 {lat['p99']} ms"
        f" cpu server {server_cpu:.2f} loadgen {step['loadgenCpu']:.2f} other {other_cpu:.2f}"
        f" {verdict}"
    )
