"""`python -m bench.hotpath` stays runnable: every update reaches all ten connections of
its room (it raises otherwise), and it reports a positive CPU time."""

from __future__ import annotations

from bench.hotpath import run


async def test_hotpath_bench_delivers_everything() -> None:
    assert await run(updates_per_room=5, profile=False) > 0
