"""s7's tables: samepage `--workers 1` against `--workers 2`, and room-affine nodes."""

from __future__ import annotations

from bench.cells import Result, fmt, ramp_cell, ratio_of, why_failed


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
        return fmt(a), fmt(b), fmt(ratio_of(b, a), "×", 2)

    def at_best(key: str) -> tuple[str, str, str]:
        return fmt(_number(b1, key), "", 2), fmt(_number(b2, key), "", 2), ""

    f1, f2 = _failed_step(w1), _failed_step(w2)
    rate_ratio = side("maxRate")[2]
    return [
        ("max passing rate, updates/s", ramp_cell(w1), ramp_cell(w2), rate_ratio),
        ("deliveries/s at that rate", *side("maxDeliveriesPerS")),
        ("server CPU at that rate, cores", _cpu_cell(b1), _cpu_cell(b2), ""),
        ("Redis CPU at that rate, cores", *at_best("redisCpu")),
        ("load generator CPU at that rate", *at_best("loadgenCpu")),
        ("first failing step", why_failed(f1) or _stopped(w1), why_failed(f2) or _stopped(w2), ""),
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
