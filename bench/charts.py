"""The chart (PNG) of a benchmark run: ramps, handshakes, memory, joins; s7's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import COMPARISON, Result, kib_per_conn
from bench.servers import SERVERS


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
        # Plain numbers at the measured rates (log-scale minor labels overlap).
        rates = sorted({s["rate"] for r in res.get(scen, {}).values() for s in r.get("steps", [])})
        ax.set_xticks(rates, [f"{rate:,}" for rate in rates], rotation=45, fontsize=7)
        ax.minorticks_off()
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
