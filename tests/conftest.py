"""Shared fixtures: a real server process per test (or module) on a temp SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.helpers.server import TEST_SECRET, ServerProcess
from tests.helpers.services import fresh_pg_database


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh `samepage serve` on a free port with its own SQLite file."""
    with ServerProcess(tmp_path / "samepage.db", log_path=tmp_path / "server.log") as proc:
        yield proc


@pytest.fixture
def secure_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """The same with token authentication on (tokens signed with TEST_SECRET)."""
    with ServerProcess(
        tmp_path / "secure.db",
        extra_args=["--secret", TEST_SECRET],
        log_path=tmp_path / "server.log",
    ) as proc:
        yield proc


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A SQLite path or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        yield str(tmp_path / "live.db")
        return
    async with fresh_pg_database() as url:
        yield url


def pytest_configure(config: pytest.Config) -> None:
    """Markers that select groups of tests."""
    config.addinivalue_line(
        "markers", "no_freeze: big documents on every path while another room is timed"
    )
