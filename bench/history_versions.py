"""Version reconstruction of a room with 100,000 stored updates, cold and warm, through
a real `samepage serve` on a SQLite file that holds them — the cases s6 cannot show:
the server starts with the rows already on disk and no saved timeline, so the first
history read builds the room's text timeline from them; and, once that server has
stopped (saving it), a second start that reads from the saved timeline.

The first read is answered by the Yrs rebuild and starts the timeline's build in the
background; once /metrics counts the build, the same versions side by side: the text
timeline (`format=text`), the full state (`format=yjs`: the nearest checkpoint merged
with the rows after it), and the Yrs rebuild every version took before the timeline
(nearest checkpoint decoded, rows after it applied), in process without HTTP
(`doc_at`).

    .venv/bin/python -m bench.history_versions [--updates 100000] [--probes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

from bench.procs import free_port
from bench.servers import VENV_PY
from storage.checkpoints import AutoCheckpointer
from storage.history import doc_at
from storage.sql.engine import database_url
from storage.sql.store import SqlStore

ROOM = "hist"


async def seed(path: Path, updates: int) -> None:
    """`updates` single-character inserts at random places, stored as the server would
    (group commit, a checkpoint every 500 rows)."""
    store = SqlStore(database_url(str(path)))
    await store.start()
    checkpointer = AutoCheckpointer(store, every=500)
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    pending: list[bytes] = []
    doc.observe(lambda event: pending.append(event.update))
    rand = random.Random(99)
    done = 0
    while done < updates:
        batch = min(1000, updates - done)
        for _ in range(batch):
            text.insert(rand.randrange(len(text) + 1), "x")
        futures = [store.append(ROOM, update, "seeder") for update in pending]
        pending.clear()
        for result in await asyncio.gather(*futures):
            checkpointer.committed(ROOM, result.seq)
        done += batch
        await asyncio.sleep(0)
    await checkpointer.aclose()
    await store.aclose()


@contextlib.contextmanager
def served(path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`samepage serve` on the file, ready (its first request made); SIGTERM after."""
    port = free_port()
    argv = [str(VENV_PY), "-m", "web.cli", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--db", str(path), "--log-level", "warning"]
    server = subprocess.Popen(argv)
    http = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(f"{http}/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        get(f"{http}/api/rooms/{ROOM}")  # the server's first request, not timed
        yield http, server
    finally:
        server.terminate()
        server.wait(timeout=60)


def read_text(base: str, seq: int) -> float:
    """ms to read version `seq`'s text (checked: it has `seq` characters)."""
    ms, body = get(f"{base}?at={seq}&format=text")
    assert len(body) == seq, (len(body), seq)
    return ms


def get(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        body: bytes = response.read()
    return (time.perf_counter() - started) * 1000, body


async def in_process(path: Path, seqs: list[int]) -> list[float]:
    store = SqlStore(database_url(str(path)))
    await store.start()
    times = []
    for seq in seqs:
        started = time.perf_counter()
        doc = await doc_at(store, ROOM, seq)
        str(doc.get("content", type=Text))
        times.append((time.perf_counter() - started) * 1000)
    await store.aclose()
    return times


def summary(times: list[float]) -> str:
    return f"p50 {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "samepage.db"
        started = time.perf_counter()
        asyncio.run(seed(path, args.updates))
        print(f"seeded {args.updates:,} updates in {time.perf_counter() - started:.1f} s")
        rand = random.Random(5)
        seqs = [rand.randint(1, args.updates) for _ in range(args.probes)]
        with served(path) as (http, _):  # no saved timeline: the first read builds it
            base = f"{http}/api/rooms/{ROOM}/content"
            started_build = time.perf_counter()
            cold, body = get(f"{base}?at={seqs[0]}&format=text")  # Yrs; starts the build
            assert len(body) == seqs[0], (len(body), seqs[0])
            during = []  # reads while the timeline is being built: Yrs answers them
            while b"samepage_text_timeline_builds_total 1.0" not in get(f"{http}/metrics")[1]:
                if len(during) == len(seqs):  # enough: let the build finish
                    time.sleep(0.05)
                    continue
                during.append(read_text(base, seqs[len(during)]))
            built = (time.perf_counter() - started_build) * 1000
            warm = [read_text(base, seq) for seq in seqs]
            yrs = [get(f"{base}?at={seq}&format=yjs")[0] for seq in seqs]
        # Stopped with SIGTERM, it saved the timeline: started again, it reads from that.
        with served(path) as (http, _):
            base = f"{http}/api/rooms/{ROOM}/content"
            restarted = [read_text(base, seq) for seq in seqs]
            saved = b'source="yrs"} 0.0' in get(f"{http}/metrics")[1]
        local = asyncio.run(in_process(path, seqs))
    print(f"versions of a {args.updates:,}-update room, {args.probes} random seqs:")
    print(f"  first read (Yrs; starts the build)      {cold:7.1f} ms")
    print(f"  text timeline built from the rows after {built:7.1f} ms")
    if during:
        print(f"  {len(during):3d} reads during the build (Yrs)     {summary(during)}")
    print(f"  text timeline (format=text)             {summary(warm)}")
    print(
        f"  after a restart, from the saved one     {summary(restarted)}"
        + ("" if saved else "  (some from Yrs!)")
    )
    print(f"  full state    (format=yjs, merged)      {summary(yrs)}")
    print(f"  Yrs rebuild in-process (doc_at + text)  {summary(local)}")
    ratio = statistics.median(warm) / statistics.median(local)
    print(f"  ratio p50 timeline / Yrs in-process     {ratio:.3f}")


if __name__ == "__main__":
    main()
