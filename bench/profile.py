"""`python -m bench --profile`: where samepage's time goes under s1 and s2 (py-spy).

py-spy is not a project dependency: install it into .venv (`.venv/bin/pip install
py-spy`). Each scenario runs once with py-spy attached to the server; the summary lists
the functions with the most samples, self and inclusive.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.driver import run_loadgen
from bench.scenarios import SCENARIOS
from bench.servers import BENCH, ROOT, SERVERS, RunningServer

TOP = 30
# A steady load the server can carry (not a ramp that stops at the first miss), so the
# profile shows the hot path rather than the connect phase.
PROFILE_LOAD = {
    "s1": {"rates": [2000, 4000, 4000], "stepSeconds": 5, "stopOnFail": False},
    "s2": {"rates": [2000, 4000, 4000], "stepSeconds": 5, "stopOnFail": False},
}


def _summarize(raw: Path, title: str) -> str:
    self_count: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        self_count[_short(frames[-1])] += count
        for frame in {_short(f) for f in frames}:
            incl[frame] += count
    lines = [f"## {title}: {total} samples", "", "self %  function"]
    lines += [f"{100 * c / total:5.1f}  {f}" for f, c in self_count.most_common(TOP)]
    lines += ["", "inclusive %  function"]
    lines += [f"{100 * c / total:5.1f}  {f}" for f, c in incl.most_common(TOP + 20)]
    return "\n".join(lines) + "\n"


def _short(frame: str) -> str:
    """`func (path/to/module.py:123)` → `func (module.py)`; repo paths kept relative."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def profile_samepage(quick: bool) -> int:
    """Profile samepage (SQLite) under s1 and s2; write bench/results/profile-*.txt."""
    py_spy = shutil.which("py-spy") or str(ROOT / ".venv/bin/py-spy")
    if not Path(py_spy).exists():
        print("py-spy not found: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    out_dir = BENCH / "results"
    (out_dir / "raw").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="samepage-profile-") as tmp:
        for key in ("s1", "s2"):
            work = Path(tmp) / key
            work.mkdir()
            server = RunningServer(
                SERVERS["samepage"], work, out_dir / "raw" / f"profile-{key}.log"
            )
            raw = out_dir / "raw" / f"profile-{key}.collapsed"
            spy = None
            try:
                server.wait_ready()
                spy = subprocess.Popen(
                    # --gil: only the thread holding the GIL, i.e. Python CPU time; the
                    # aiosqlite worker blocked in queue.get would otherwise look busy.
                    [py_spy, "record", "--gil", "-p", str(server.pid), "-f", "raw", "-o", str(raw)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                print(f"{key}: profiling samepage pid {server.pid}", file=sys.stderr)
                config = {**SCENARIOS[key].config(quick), **PROFILE_LOAD[key]}
                result = run_loadgen(server, config, SCENARIOS[key].timeout_s)
                if "error" in result:
                    print(f"  error: {str(result['error'])[:300]}", file=sys.stderr)
            finally:
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(30)
                server.stop()
            summary = _summarize(raw, f"samepage under {key} ({'quick' if quick else 'full'})")
            (out_dir / f"profile-{key}.txt").write_text(summary)
            print(summary)
    return 0
