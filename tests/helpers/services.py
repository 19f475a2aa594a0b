"""Access to the real services multi-node tests use; skip outside CI when absent."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def in_ci() -> bool:
    """True when running under CI (nothing may be skipped there)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def reachable(host: str, port: int) -> bool:
    """Can we open a TCP connection right now?"""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    """Skip (outside CI, with a reason) or fail (in CI) when a service is down."""
    if reachable(host, port):
        return
    message = f"{service} not reachable on {host}:{port}"
    if in_ci():
        pytest.fail(message + " (CI must run every test)")
    pytest.skip(message)


async def create_pg_database() -> str:
    """Create a throwaway PostgreSQL database; return its SQLAlchemy URL."""
    require("PostgreSQL", PG_HOST, PG_PORT)
    import asyncpg

    name = f"samepage_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="test")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"


async def drop_pg_database(url: str) -> None:
    """Drop a database `create_pg_database` made (its connections too)."""
    import asyncpg

    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="test")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """Create a throwaway PostgreSQL database; yield its SQLAlchemy URL; drop it."""
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)
