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
)

SETTLE_S = 2.0  # before sampling memory: let the allocator and the GC settle


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
    assert proc.stdin is not None and proc.stdout is not None
    server_cpu: list[float] = []
    other_cpu: list[float] = []
    memory: dict[str, int] = {}
    began = (0.0, 0.0, 0.0, 0.0)
    result: dict[str, Any] = {"error": "load generator ended without a result"}
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            print(f"    loadgen: {line.rstrip()}", file=sys.stderr)
            continue
        kind = event.get("event")
        if kind == "log":
            print(f"    {event['msg']}", file=sys.stderr)
        elif kind == "step_begin":
            began = (
                time.monotonic(),
                cpu_seconds(server.pid),
                cpu_seconds(proc.pid),
                machine_busy_seconds(),
            )
        elif kind == "step_end":
            wall = time.monotonic() - began[0]
            ours = cpu_seconds(server.pid) - began[1]
            loadgen = cpu_seconds(proc.pid) - began[2]
            server_cpu.append(round(ours / wall, 2))
            # Everything else the machine did meanwhile (other engineers' tests...).
            other_cpu.append(round((machine_busy_seconds() - began[3] - ours - loadgen) / wall, 2))
            if "rate" in event:
                print(_step_line(event, server_cpu[-1], other_cpu[-1]), file=sys.stderr)
        elif kind in ("baseline", "connected"):
            time.sleep(SETTLE_S)
            memory[kind] = rss_bytes(server.pid)
            proc.stdin.write("go\n")
            proc.stdin.flush()
        elif kind == "result":
            result = {k: v for k, v in event.items() if k != "event"}
    proc.wait(30)
    for step, cpu, other in zip(result.get("steps", []), server_cpu, other_cpu, strict=False):
        step["serverCpu"] = cpu
        step["otherCpu"] = other
    if server_cpu and "steps" not in result:
        result["serverCpu"] = server_cpu[-1]
        result["otherCpu"] = other_cpu[-1]
    if memory:
        result["rssBaseline"] = memory.get("baseline")
        result["rssConnected"] = memory.get("connected")
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
