"""The one table (Markdown) and the chart (PNG) of a benchmark run."""

from __future__ import annotations

from bench.cells import Result, fmt, mark, ramp_cell, ratio_of, why_failed
from bench.report_scale import scale_out
from bench.servers import SERVERS

COMPARISON = ("s1", "s2", "s3", "s4", "s6")  # samepage against its peers; s7 is samepage only


def _ramp_note(r: Result | None) -> str:
    if not r or "error" in r:
        return str(r.get("error", ""))[:160] if r else ""
    last = r["steps"][-1] if r["steps"] else None
    parts = []
    if r.get("failedStep"):
        parts.append(why_failed(r["failedStep"]))
    if last:
        parts.append(
            f"CPU at last step: server {last.get('serverCpu', 0):.2f}, "
            f"loadgen {last['loadgenCpu']:.2f}, other processes {last.get('otherCpu', 0):.2f}"
            + (" (loadgen-bound)" if last["loadgenBound"] else "")
        )
    return "; ".join(parts)


def kib_per_conn(r: Result | None) -> float | None:
    """Server RSS growth per idle connection, KiB."""
    if not r or not r.get("rssConnected") or not r.get("established"):
        return None
    delta: float = r["rssConnected"] - r["rssBaseline"]
    return delta / r["established"] / 1024


def cpu_per_update_us(r: Result | None) -> tuple[float, int] | None:
    """(server CPU per update in us, at which rate): at the highest step where nothing
    was lost and the server had CPU to spare (< 0.9 of its core). What an update costs
    does not depend on how much of the machine other processes take, so it compares
    servers even when latency spikes from a busy machine end the ramps early."""
    if not r or "error" in r:
        return None
    steps = [
        s
        for s in r.get("steps", [])
        if s.get("lost") == 0 and s.get("serverCpu") and s["serverCpu"] < 0.9 and s["sendRate"]
    ]
    if not steps:
        return None
    best = max(steps, key=lambda s: s["rate"])
    return best["serverCpu"] / best["sendRate"] * 1e6, best["rate"]


def targets(run: Result) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for each of the issue's targets."""
    res = run["results"]

    def get(s: str, k: str) -> Result | None:
        r = res.get(s, {}).get(k)
        return r if r and "error" not in r else None

    rows: list[tuple[str, str, str]] = []

    def add(name: str, value: float | None, ok: bool | None, text: str) -> None:
        verdict = "n/a" if value is None else ("met" if ok else "MISSED")
        rows.append((name, text if value is not None else "not measured", verdict))

    # The goals of issue #15 (many rooms at full speed).
    for key, goal in (("s1", 2.0), ("s2", 1.0)):
        sp, ref = get(key, "samepage"), get(key, "reference")
        v = ratio_of(sp and sp["maxRate"], ref and ref["maxRate"])
        lower = bool(ref and ref["rampExhausted"])
        text = f"{fmt(v, '×', 2)}" + (
            " (reference ran out of ramp: a lower bound)" if lower else ""
        )
        add(f"{key}: samepage ≥ {goal}× reference updates/s", v, v is not None and v >= goal, text)
        cost, ref_cost = cpu_per_update_us(sp), cpu_per_update_us(ref)
        if cost and ref_cost:
            capacity = ref_cost[0] / cost[0]
            rows.append(
                (
                    f"{key}: capacity estimate, samepage / reference (not a target: rate ÷"
                    " server CPU at each one's highest step below 0.9 of its core)",
                    f"{capacity:.2f}× ({cost[0]:.0f} vs {ref_cost[0]:.0f} µs of CPU an update,"
                    f" at {cost[1]:,} and {ref_cost[1]:,}/s)",
                    "info",
                )
            )
    sp, ref = get("s3", "samepage"), get("s3", "reference")
    v = ratio_of(sp and sp["handshakesPerS"], ref and ref["handshakesPerS"])
    add("s3: handshakes/s ≥ 1.0× reference", v, v is not None and v >= 1.0, fmt(v, "×", 2))
    p99, ref_p99 = (r and r.get("handshakeP99Ms") for r in (sp, ref))
    add(
        "s3: handshake p99 ≤ reference's",
        p99,
        p99 is not None and ref_p99 is not None and p99 <= ref_p99,
        f"{fmt(p99, ' ms', 1)} vs {fmt(ref_p99, ' ms', 1)}",
    )
    kib = kib_per_conn(sp)
    add("s3: ≤ 16 KiB per idle connection", kib, kib is not None and kib <= 16, fmt(kib, " KiB", 1))
    sp, ref = get("s4", "samepage"), get("s4", "reference")
    # The server's part of a join is the time to step 2; applying 1.4 MB in the client
    # (~100 ms of Yjs in the load generator) is the same for every server.
    v = ratio_of(sp and sp["joinReceivedMs"], ref and ref["joinReceivedMs"])
    add(
        "s4: join ≤ 0.5× reference time (to step 2 received)",
        v,
        v is not None and v <= 0.5,
        fmt(v, "×", 2),
    )
    disk, mem = get("s1", "samepage"), get("s1", "samepage-memory")
    ratio = ratio_of(disk and disk["maxRate"], mem and mem["maxRate"])
    cost = None if ratio is None else 1 - ratio
    add(
        "s5: persistence costs ≤ 20 %",
        cost,
        cost is not None and cost <= 0.2,
        fmt(cost and cost * 100, " %", 0),
    )
    hist = get("s6", "samepage")
    if hist and not hist["available"]:
        rows.append(("s6: any version < 50 ms", f"not available: {hist['reason']}", "n/a"))
    else:
        mx = hist["maxMs"] if hist else None
        add("s6: any version < 50 ms", mx, mx is not None and mx < 50, f"max {fmt(mx, ' ms', 1)}")
    return rows


def render_table(run: Result) -> str:
    """The Markdown report: one table of all servers, the targets, notes, the
    scale-out comparison (s7), machine."""
    out = [
        f"### samepage benchmark ({run['mode']} run, {run['started']}, {run['seconds']} s)",
        "",
        f"Command: `{run['command']}`",
        "",
    ]
    if any(key in run["results"] for key in COMPARISON):
        out += _comparison(run)
    if "s7" in run["results"]:
        out += scale_out(run["results"]["s7"])
    m = run["machine"]
    out += [
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in m.items()) + ".",
        "Server pinned to core 0, load generator (one Node process) to core 1 (`taskset`);"
        " s7's 2 workers run on both cores, so the load generator shares core 1 with one.",
        "",
    ]
    return "\n".join(out)


def _comparison(run: Result) -> list[str]:
    """samepage against its peers (s1–s6): the table, the targets, the notes."""
    res = run["results"]
    keys = [k for k in SERVERS if any(k in res.get(s, {}) for s in COMPARISON)]
    out = [
        "| server | s1 updates/s | s1 deliveries/s | s2 updates/s | s2 deliveries/s "
        "| s3 handshakes/s | s3 KiB/conn | s4 join ms (recv / applied) | s4 10 joins ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for k in keys:
        s1, s2 = res.get("s1", {}).get(k), res.get("s2", {}).get(k)
        s3, s4 = res.get("s3", {}).get(k), res.get("s4", {}).get(k)
        s3ok = s3 and "error" not in s3
        s4ok = s4 and "error" not in s4
        out.append(
            f"| {SERVERS[k].label} | {ramp_cell(s1)} | "
            f"{fmt(s1.get('maxDeliveriesPerS')) if s1 and 'error' not in s1 else '–'} | "
            f"{ramp_cell(s2)} | "
            f"{fmt(s2.get('maxDeliveriesPerS')) if s2 and 'error' not in s2 else '–'} | "
            f"{fmt(s3['handshakesPerS']) + mark(s3) if s3ok else ('error' if s3 else '–')} | "
            f"{fmt(kib_per_conn(s3), '', 1)} | "
            + (
                f"{fmt(s4['joinReceivedMs'], '', 1)} / {fmt(s4['joinAppliedMs'], '', 1)}"
                f"{mark(s4)} | "
                f"{fmt(s4['concurrentWallMs'], '', 1)} |"
                if s4ok
                else ("error | error |" if s4 else "– | – |")
            )
        )
    out += [
        "",
        "updates/s: the highest offered rate at which every update reached every other client"
        " of its room and the p99 send→receipt latency stayed ≤ 100 ms (≥: the ramp ended"
        " first). deliveries/s: updates received per second, summed over clients, at that rate."
        " KiB/conn: server RSS growth / idle connections. s4: socket opened → sync step 2"
        " received / applied to a fresh Y.Doc (median); 10 joins: all ten at once, wall time."
        " †: other processes on the machine used > 0.35 cores during the measurement.",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    out += [f"| {t} | {m} | {v} |" for t, m, v in targets(run)]
    out += ["", "Where each ramp stopped, and the CPU use (1.00 = one core):", ""]
    for scen in ("s1", "s2"):
        for k, r in res.get(scen, {}).items():
            out.append(f"- {scen} {SERVERS[k].label}: {_ramp_note(r)}")
    for k, r in res.get("s3", {}).items():
        if "error" in r:
            out.append(f"- s3 {SERVERS[k].label}: {str(r['error'])[:160]}")
        else:
            out.append(
                f"- s3 {SERVERS[k].label}: {r['established']}/{r['connections']} connected in "
                f"{r['wallMs']} ms, handshake p99 {fmt(r['handshakeP99Ms'], ' ms', 1)}, "
                f"server CPU {r.get('serverCpu', 0):.2f}, loadgen CPU {r['loadgenCpu']:.2f}"
            )
    for k, r in res.get("s4", {}).items():
        if "error" not in r:
            out.append(
                f"- s4 {SERVERS[k].label}: step 2 of {r['step2Bytes']:,} bytes, "
                f"10 joins: slowest step 2 after {r['concurrentMaxReceivedMs']} ms"
            )
        else:
            out.append(f"- s4 {SERVERS[k].label}: {str(r['error'])[:160]}")
    for k, hist in res.get("s6", {}).items():
        label = "samepage" if k == "samepage" else SERVERS[k].label
        if "error" in hist:
            out.append(f"- s6 {label}: {str(hist['error'])[:200]}")
            continue
        out.append(
            f"- s6 {label}: {hist['stored']:,} updates stored in {hist['seedSeconds']} s "
            f"({hist['seedRate']:,}/s through one WebSocket); versions: "
            + (
                f"{hist['versions']} read, p50 {hist['p50Ms']} ms, max {hist['maxMs']} ms"
                if hist["available"]
                else f"not available ({hist['reason']})"
            )
        )
    return out
