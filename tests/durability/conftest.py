"""Fixtures of the durability tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers.services import fresh_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A SQLite path or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        yield str(tmp_path / "live.db")
        return
    async with fresh_pg_database() as url:
        yield url
