"""`serve` keeps what exists once the server has started (mostly imported code) out of
the garbage collector's full collections, which otherwise paused the loop 40-50 ms each
under load (web.loopwatch.freeze_heap); an app built for tests freezes nothing."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from web.app import create_app
from web.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process goes on making and dropping apps


async def test_a_started_server_freezes_the_heap(unfrozen: None) -> None:
    app = create_app(Settings(db="memory://"), freeze_heap=True)
    assert gc.get_freeze_count() == 0
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 10_000  # the modules' functions, types and dicts
        made_later: list[list[int]] = [[]]
        gc.collect()  # the survivors go to the oldest generation, still collectable
        assert any(obj is made_later for obj in gc.get_objects(2))


async def test_an_app_without_the_flag_freezes_nothing(unfrozen: None) -> None:
    app = create_app(Settings(db="memory://"))
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0
