"""Cells of the report's tables: numbers, ratios, why a ramp step failed."""

from __future__ import annotations

from typing import Any

Result = dict[str, Any]


def fmt(x: float | None, unit: str = "", digits: int = 0) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}{unit}"


def why_failed(step: Result | None) -> str:
    """Why a ramp step failed."""
    if step is None:
        return ""
    reasons = []
    if step.get("closedClients"):
        reasons.append(f"{step['closedClients']} clients closed")
    if step["lost"]:
        reasons.append(f"lost {step['lost']:,}")
    p99 = step["latencyMs"]["p99"]
    if p99 is None or p99 > 100:
        reasons.append(f"p99 {fmt(p99, ' ms')}")
    if step["sendRate"] < 0.95 * step["rate"]:
        reasons.append(f"sent only {step['sendRate']:,}/s")
    return f"at {step['rate']:,}/s: " + ", ".join(reasons)


def ratio_of(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def mark(r: Result) -> str:
    """† on a result measured while other processes used more than 0.35 cores."""
    return " †" if r.get("disturbance", 0) > 0.35 else ""


def ramp_cell(r: Result | None) -> str:
    """`max rate (deliveries/s)` of a ramp scenario."""
    if not r:
        return "–"
    if "error" in r:
        return "error"
    return _ramp_cell(r) + mark(r)


def _ramp_cell(r: Result) -> str:
    if r["rampExhausted"]:
        return f"≥ {r['maxRate']:,}"
    if not r["maxRate"]:
        first = r["steps"][0]["rate"] if r["steps"] else 0
        return f"< {first:,}"
    return f"{r['maxRate']:,}"
