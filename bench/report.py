"""The one table (Markdown) and the chart (PNG) of a benchmark run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.servers import SERVERS

Result = dict[str, Any]
COMPARISON = ("s1", "s2", "s3", "s4", "s6")  # samepage against its peers; s7 is samepage only


def _fmt(x: float | None, unit: str = "", digits: int = 0) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}{unit}"


def _why(step: Result | None) -> str:
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
        reasons.append(f"p99 {_fmt(p99, ' ms')}")
    if step["sendRate"] < 0.95 * step["rate"]:
        reasons.append(f"sent only {step['sendRate']:,}/s")
    return f"at {step['rate']:,}/s: " + ", ".join(reasons)


def _mark(r: Result) -> str:
    """† on a result measured while other processes used more than 0.35 cores."""
    return " †" if r.get("disturbance", 0) > 0.35 else ""


def ramp_cell(r: Result | None) -> str:
    """`max rate (deliveries/s)` of a ramp scenario."""
    if not r:
        return "–"
    if "error" in r:
        return "error"
    return _ramp_cell(r) + _mark(r)


def _ramp_cell(r: Result) -> str:
    if r["rampExhausted"]:
        return f"≥ {r['maxRate']:,}"
    if not r["maxRate"]:
        first = r["steps"][0]["rate"] if r["steps"] else 0
        return f"< {first:,}"
    return f"{r['maxRate']:,}"


def _ramp_note(r: Result | None) -> str:
    if not r or "error" in r:
        return str(r.get("error", ""))[:160] if r else ""
    last = r["steps"][-1] if r["steps"] else None
    parts = []
    if r.get("failedStep"):
        parts.append(_why(r["failedStep"]))
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


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


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
        v = _ratio(sp and sp["maxRate"], ref and ref["maxRate"])
        lower = bool(ref and ref["rampExhausted"])
        text = f"{_fmt(v, '×', 2)}" + (
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
    v = _ratio(sp and sp["handshakesPerS"], ref and ref["handshakesPerS"])
    add("s3: handshakes/s ≥ 1.0× reference", v, v is not None and v >= 1.0, _fmt(v, "×", 2))
    p99, ref_p99 = (r and r.get("handshakeP99Ms") for r in (sp, ref))
    add(
        "s3: handshake p99 ≤ reference's",
        p99,
        p99 is not None and ref_p99 is not None and p99 <= ref_p99,
        f"{_fmt(p99, ' ms', 1)} vs {_fmt(ref_p99, ' ms', 1)}",
    )
    kib = kib_per_conn(sp)
    add(
        "s3: ≤ 16 KiB per idle connection", kib, kib is not None and kib <= 16, _fmt(kib, " KiB", 1)
    )
    sp, ref = get("s4", "samepage"), get("s4", "reference")
    # The server's part of a join is the time to step 2; applying 1.4 MB in the client
    # (~100 ms of Yjs in the load generator) is the same for every server.
    v = _ratio(sp and sp["joinReceivedMs"], ref and ref["joinReceivedMs"])
    add(
        "s4: join ≤ 0.5× reference time (to step 2 received)",
        v,
        v is not None and v <= 0.5,
        _fmt(v, "×", 2),
    )
    disk, mem = get("s1", "samepage"), get("s1", "samepage-memory")
    ratio = _ratio(disk and disk["maxRate"], mem and mem["maxRate"])
    cost = None if ratio is None else 1 - ratio
    add(
        "s5: persistence costs ≤ 20 %",
        cost,
        cost is not None and cost <= 0.2,
        _fmt(cost and cost * 100, " %", 0),
    )
    hist = get("s6", "samepage")
    if hist and not hist["available"]:
        rows.append(("s6: any version < 50 ms", f"not available: {hist['reason']}", "n/a"))
    else:
        mx = hist["maxMs"] if hist else None
        add("s6: any version < 50 ms", mx, mx is not None and mx < 50, f"max {_fmt(mx, ' ms', 1)}")
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
            f"{_fmt(s1.get('maxDeliveriesPerS')) if s1 and 'error' not in s1 else '–'} | "
            f"{ramp_cell(s2)} | "
            f"{_fmt(s2.get('maxDeliveriesPerS')) if s2 and 'error' not in s2 else '–'} | "
            f"{_fmt(s3['handshakesPerS']) + _mark(s3) if s3ok else ('error' if s3 else '–')} | "
            f"{_fmt(kib_per_conn(s3), '', 1)} | "
            + (
                f"{_fmt(s4['joinReceivedMs'], '', 1)} / {_fmt(s4['joinAppliedMs'], '', 1)}"
                f"{_mark(s4)} | "
                f"{_fmt(s4['concurrentWallMs'], '', 1)} |"
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
                f"{r['wallMs']} ms, handshake p99 {_fmt(r['handshakeP99Ms'], ' ms', 1)}, "
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


def _cpu_cell(step: Result | None) -> str:
    """Server CPU of a step, with the split over a supervisor's processes."""
    if not step or "serverCpu" not in step:
        return "–"
    per = step.get("serverCpuPerProcess")
    if not per:
        return f"{step['serverCpu']:.2f}"
    workers = " + ".join(f"{c:.2f}" for c in per[1:])
    return f"{step['serverCpu']:.2f} (workers {workers}; supervisor {per[0]:.2f})"


def _best_step(r: Result | None) -> Result | None:
    """The last passing step of a ramp."""
    if not r or "error" in r:
        return None
    passed = [step for step in r["steps"] if step["pass"]]
    return passed[-1] if passed else None


def _connections_cell(r: Result | None) -> str:
    counts = r.get("connectionsPerProcess") if r else None
    if not counts:
        return "–"
    return " / ".join(f"{c:,}" for c in (counts[1:] if len(counts) > 1 else counts))


def _number(r: Result | None, key: str) -> float | None:
    """A number of a result or step, or None (no result, an error, no such field)."""
    if not r or "error" in r or r.get(key) is None:
        return None
    return float(r[key])


def _scale_rows(w1: Result | None, w2: Result | None) -> list[tuple[str, str, str, str]]:
    """(what, 1 worker, 2 workers, ratio) rows of the scale-out table."""
    b1, b2 = _best_step(w1), _best_step(w2)

    def side(key: str) -> tuple[str, str, str]:
        a, b = _number(w1, key), _number(w2, key)
        return _fmt(a), _fmt(b), _fmt(_ratio(b, a), "×", 2)

    def at_best(key: str) -> tuple[str, str, str]:
        return _fmt(_number(b1, key), "", 2), _fmt(_number(b2, key), "", 2), ""

    f1, f2 = _failed_step(w1), _failed_step(w2)
    rate_ratio = side("maxRate")[2]
    return [
        ("max passing rate, updates/s", ramp_cell(w1), ramp_cell(w2), rate_ratio),
        ("deliveries/s at that rate", *side("maxDeliveriesPerS")),
        ("server CPU at that rate, cores", _cpu_cell(b1), _cpu_cell(b2), ""),
        ("Redis CPU at that rate, cores", *at_best("redisCpu")),
        ("load generator CPU at that rate", *at_best("loadgenCpu")),
        ("first failing step", _why(f1) or _stopped(w1), _why(f2) or _stopped(w2), ""),
        ("server CPU at the failing step", _cpu_cell(f1), _cpu_cell(f2), ""),
        ("load generator CPU at the failing step", *_loadgen_cells(f1, f2)),
        ("other processes' CPU, most in a step", *_disturbance_cells(w1, w2)),
        ("connections per worker", _connections_cell(w1), _connections_cell(w2), ""),
    ]


def _failed_step(r: Result | None) -> Result | None:
    """The failing step that ended a ramp (with the driver's CPU fields), or None."""
    if not r or "error" in r or not r["steps"] or r["steps"][-1]["pass"]:
        return None
    step: Result = r["steps"][-1]
    return step


def _stopped(r: Result | None) -> str:
    if not r:
        return "–"
    if "error" in r:
        return "error: " + str(r["error"])[:120]
    return "none (the ramp ended)" if r["rampExhausted"] else "none (time budget ran out)"


def _loadgen_cells(f1: Result | None, f2: Result | None) -> tuple[str, str, str]:
    def cell(step: Result | None) -> str:
        if not step:
            return "–"
        bound = " (loadgen-bound)" if step["loadgenBound"] else ""
        return f"{step['loadgenCpu']:.2f}, send lag p99 {step['sendLagP99Ms']} ms{bound}"

    return cell(f1), cell(f2), ""


def _disturbance_cells(w1: Result | None, w2: Result | None) -> tuple[str, str, str]:
    def cell(r: Result | None) -> str:
        if not r or "error" in r or not r["steps"]:
            return "–"
        return f"{max(step.get('otherCpu', 0.0) for step in r['steps']):.2f}"

    return cell(w1), cell(w2), ""


SCALE_PAIRS = [
    ("one SQLite file", "samepage-w1", "samepage-w2"),
    ("PostgreSQL", "samepage-w1-pg", "samepage-w2-pg"),
]
SCALE_AFFINE = [
    ("one SQLite file", "samepage-w1", "samepage-affine"),
    ("PostgreSQL", "samepage-w1-pg", "samepage-affine-pg"),
]


def scale_out(results: dict[str, Result]) -> list[str]:
    """s7: samepage --workers 1 and --workers 2 side by side with the ratio, one table
    per database that was run."""
    out = [
        "",
        "#### s7 scale-out: samepage `--workers 1` vs `--workers 2` on this machine",
        "",
        "100 rooms × 10 clients, one writer per room, rising aggregate rate; through the"
        " Redis bus. 1 worker: core 0; 2 workers: cores 0 and 1, the load generator"
        " shares core 1 with one of them.",
    ]
    for database, one, two in SCALE_PAIRS:
        if one not in results and two not in results:
            continue
        rows = _scale_rows(results.get(one), results.get(two))
        out += [
            "",
            f"Database: {database}.",
            "",
            "| | 1 worker | 2 workers | 2 workers / 1 worker |",
            "|---|--:|--:|--:|",
        ]
        out += [f"| {what} | {a} | {b} | {r} |" for what, a, b, r in rows]
    for database, one, affine in SCALE_AFFINE:
        if affine not in results:
            continue
        rows = _scale_rows(results.get(one), results.get(affine))
        counts = results[affine].get("remoteApplied")
        rows.append(("updates applied from the other node", "–", _fmt_counts(counts), ""))
        out += [
            "",
            f"Room-affine routing, {database}: 2 nodes behind nginx (`hash $uri consistent`),"
            " so each room lives on one node (recorded, not a target).",
            "",
            "| | 1 worker | 2 nodes, room-affine | 2 nodes / 1 worker |",
            "|---|--:|--:|--:|",
        ]
        out += [f"| {what} | {a} | {b} | {r} |" for what, a, b, r in rows[:-4] + rows[-1:]]
    return out


def _fmt_counts(counts: object) -> str:
    if not isinstance(counts, list) or any(c is None for c in counts):
        return "not read"
    return " + ".join(f"{int(c):,}" for c in counts)


def render_chart(run: Result, path: Path) -> None:
    """A 2×3 PNG: latency under the s1/s2 ramps, s3 handshakes and memory, s4 joins,
    and the sustained rates; for a run of s7 alone, the scale-out chart."""
    if "s7" in run["results"] and not any(k in run["results"] for k in COMPARISON):
        render_scale_chart(run, path)
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = run["results"]
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    colors = {k: f"C{i}" for i, k in enumerate(SERVERS)}
    for ax, scen in zip(axes[0][:2], ("s1", "s2"), strict=True):
        for k, r in res.get(scen, {}).items():
            if "error" in r or not r["steps"]:
                continue
            xs = [s["rate"] for s in r["steps"]]
            ys = [max(s["latencyMs"]["p99"] or 0.05, 0.05) for s in r["steps"]]
            ax.plot(xs, ys, marker="o", label=SERVERS[k].label, color=colors[k])
        ax.axhline(100, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered updates/s (aggregate)")
        ax.set_ylabel("p99 fan-out latency, ms")
        title = "s1: 1 room × 50 clients" if scen == "s1" else "s2: 100 rooms × 10 clients"
        ax.set_title(title + " (ramp stops at a loss or p99 > 100 ms)", fontsize=9)
        if ax.get_lines():
            ax.legend(fontsize=7)

    def bars(ax: Any, scen: str, value: Any, title: str, unit: str) -> None:
        names, vals, cols = [], [], []
        for k, r in res.get(scen, {}).items():
            v = None if "error" in r else value(r)
            if v is not None:
                names.append(SERVERS[k].label.replace(" (", "\n("))
                vals.append(v)
                cols.append(colors[k])
        ax.barh(names, vals, color=cols)
        for i, v in enumerate(vals):
            ax.text(v, i, f" {v:,.1f}" if v < 100 else f" {v:,.0f}", va="center", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(unit)
        ax.tick_params(axis="y", labelsize=7)
        ax.invert_yaxis()

    bars(
        axes[0][2],
        "s1",
        lambda r: r["maxRate"],
        "s1: sustained updates/s (higher is better)",
        "updates/s",
    )
    bars(
        axes[1][0],
        "s3",
        lambda r: r["handshakesPerS"],
        "s3: handshakes/s, 1,000 connections",
        "per second",
    )
    bars(
        axes[1][1],
        "s3",
        kib_per_conn,
        "s3: server memory per idle connection (lower is better)",
        "KiB",
    )
    bars(
        axes[1][2],
        "s4",
        lambda r: r["joinReceivedMs"],
        "s4: join a 100k-insert document, ms (lower is better)",
        "ms (median, socket opened → sync step 2 received)",
    )
    fig.suptitle(
        f"samepage vs peers — {run['mode']} run {run['started']} — {run['machine']['cpu']}, "
        "server on core 0, load generator on core 1",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def render_scale_chart(run: Result, path: Path) -> None:
    """s7: p99 latency and server CPU against the offered rate, 1 vs 2 workers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lat, cpu) = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, (key, r) in enumerate(run["results"]["s7"].items()):
        if "error" in r or not r["steps"]:
            continue
        xs = [step["rate"] for step in r["steps"]]
        p99 = [max(step["latencyMs"]["p99"] or 0.05, 0.05) for step in r["steps"]]
        cores = [step.get("serverCpu", 0.0) for step in r["steps"]]
        lat.plot(xs, p99, marker="o", label=SERVERS[key].label, color=f"C{i}")
        cpu.plot(xs, cores, marker="o", label=SERVERS[key].label, color=f"C{i}")
    lat.axhline(100, color="grey", linestyle="--", linewidth=1)
    lat.set_yscale("log")
    lat.set_ylabel("p99 fan-out latency, ms")
    cpu.set_ylabel("server CPU, cores (all its processes)")
    for ax in (lat, cpu):
        ax.set_xlabel("offered updates/s (aggregate, 100 rooms × 10 clients)")
        if ax.get_lines():
            ax.legend(fontsize=8)
    fig.suptitle(f"s7 scale-out — {run['mode']} run {run['started']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
