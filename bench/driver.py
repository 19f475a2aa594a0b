"""Running the load generator against one server and sampling the server meanwhile."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.procs import (
    cpu_seconds,
    established_per_process,
    machine_busy_seconds,
    process_tree,
    redis_pid,
    tree_cpu_seconds,
    tree_rss_bytes,
    wait_quiet,
)
from bench.servers import BENCH, LOADGEN_CORE, PRIORITY, ROOT, RunningServer

SETTLE_S = 2.0  # before sampling memory: let the allocator and the GC settle
DISTURBED_CORES = 0.35  # other processes' CPU during a step that voids it
STEP_REPEATS = 2  # how often one ramp step is measured again when disturbed
REPEAT_BUDGET = [float("inf")]  # monotonic time after which nothing is repeated


@dataclass(frozen=True)
class _Sample:
    """CPU seconds so far: the server's, per process of its tree, and the others'."""

    at: float = 0.0
    server: dict[int, float] = field(default_factory=dict)
    loadgen: float = 0.0
    redis: float = 0.0
    machine: float = 0.0


@dataclass
class _StepCpu:
    """CPU use during one step, in cores (1.00 = one core)."""

    server: float
    loadgen: float
    redis: float
    other: float
    per_process: list[float]  # the server's root process first, then its children


def _cpu_between(a: _Sample, b: _Sample) -> _StepCpu:
    wall = b.at - a.at
    per = {pid: (t - a.server.get(pid, 0.0)) / wall for pid, t in b.server.items()}
    server = sum(b.server.values()) - sum(a.server.values())
    loadgen, redis = b.loadgen - a.loadgen, b.redis - a.redis
    # Everything else the machine did meanwhile (other engineers' tests...).
    other = (b.machine - a.machine - server - loadgen - redis) / wall
    return _StepCpu(
        server=round(server / wall, 2),
        loadgen=round(loadgen / wall, 2),
        redis=round(redis / wall, 2),
        other=round(max(0.0, other), 2),
        per_process=[round(c, 2) for c in per.values()],  # the root first
    )


class _Follower:
    """Reads the load generator's events; samples CPU per step and memory on request."""

    def __init__(self, proc: subprocess.Popen[str], server: RunningServer) -> None:
        self.proc = proc
        self.server = server
        self.redis_pid = redis_pid() if server.spec.uses_redis else None
        self.cpu: list[_StepCpu] = []
        self.memory: dict[str, int] = {}
        self.connections: dict[int, int] = {}
        self.repeats: dict[int, int] = {}
        self.began = _Sample()
        self.result: dict[str, Any] = {"error": "load generator ended without a result"}

    def _sample(self) -> _Sample:
        """The server's CPU is summed over its process tree: with `--workers` the
        supervisor only waits, its children serve."""
        return _Sample(
            at=time.monotonic(),
            server=tree_cpu_seconds(self.server.pid),
            loadgen=cpu_seconds(self.proc.pid),
            redis=cpu_seconds(self.redis_pid) if self.redis_pid else 0.0,
            machine=machine_busy_seconds(),
        )

    def _count_connections(self) -> None:
        """Once, with every client connected: the server's connections per process
        (the kernel spreads them over `--workers` children with SO_REUSEPORT)."""
        if not self.connections:
            tree = process_tree(self.server.pid)
            self.connections = established_per_process(tree, self.server.port)

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
                self.cpu.append(_cpu_between(self.began, self._sample()))
                if "pass" in event:  # a ramp step: keep it or measure it again
                    self._count_connections()
                    print(_step_line(event, self.cpu[-1]), file=sys.stderr)
                    self._verdict(event, self.cpu[-1].other)
            elif kind in ("baseline", "connected"):
                time.sleep(SETTLE_S)
                self.memory[kind] = tree_rss_bytes(self.server.pid)
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
        [
            *PRIORITY,
            "taskset",
            "-c",
            LOADGEN_CORE,
            "node",
            str(BENCH / "loadgen/main.js"),
            json.dumps(config),
        ],
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
        if 0 <= seq < len(follower.cpu):
            step.update(_cpu_fields(follower.cpu[seq]))
    if follower.cpu and "steps" not in result:
        result.update(_cpu_fields(follower.cpu[-1]))
    if follower.connections:
        result["connectionsPerProcess"] = list(follower.connections.values())  # the root first
    if follower.memory:
        result["rssBaseline"] = follower.memory.get("baseline")
        result["rssConnected"] = follower.memory.get("connected")
    result["serverAlive"] = server.proc.poll() is None
    return result


def _cpu_fields(cpu: _StepCpu) -> dict[str, Any]:
    """A step's CPU use as JSON fields; per process and Redis only when there are any."""
    fields: dict[str, Any] = {"serverCpu": cpu.server, "otherCpu": cpu.other}
    if len(cpu.per_process) > 1:
        fields["serverCpuPerProcess"] = cpu.per_process
    if cpu.redis:
        fields["redisCpu"] = cpu.redis
    return fields


def _step_line(step: dict[str, Any], cpu: _StepCpu) -> str:
    lat = step["latencyMs"]
    verdict = "ok" if step["pass"] else "FAIL"
    per = (
        f" ({' + '.join(f'{c:.2f}' for c in cpu.per_process)})" if len(cpu.per_process) > 1 else ""
    )
    redis = f" redis {cpu.redis:.2f}" if cpu.redis else ""
    return (
        f"    {step['rate']:>6}/s sent {step['sendRate']:>6}/s deliveries "
        f"{step['deliveriesPerS']:>7}/s lost {step['lost']:>6} p50 {lat['p50']} p99 {lat['p99']} ms"
        f" cpu server {cpu.server:.2f}{per}{redis} loadgen {step['loadgenCpu']:.2f}"
        f" other {cpu.other:.2f} {verdict}"
    )
