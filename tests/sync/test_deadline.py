"""A connection admitted with an expiring token closes itself 4401 at the expiry (a loop
timer), and a connection that left earlier leaves no timer behind."""

from __future__ import annotations

import asyncio
import time

from sync.connection import Connection
from sync.errors import CloseCode
from sync.types import Credential, Identity, SyncSettings
from tests.helpers.clients import eventually
from tests.helpers.fakes import FakeTransport


def identity(expires_in: float) -> Identity:
    return Identity("u", "u", True, Credential("jti-1", time.time(), time.time() + expires_in))


async def test_the_connection_closes_4401_when_its_token_expires() -> None:
    transport = FakeTransport()
    conn = Connection(transport, identity(0.2), SyncSettings())
    started = time.monotonic()
    await eventually(lambda: transport.close_code is not None, 3, "the close at expiry")
    assert transport.close_code == CloseCode.UNAUTHORIZED == conn.close_code
    assert 0.15 <= time.monotonic() - started < 1.0


async def test_a_connection_gone_before_its_expiry_cancels_the_timer() -> None:
    transport = FakeTransport()
    conn = Connection(transport, identity(0.1), SyncSettings())
    conn.detach()
    assert conn._deadline is None
    await asyncio.sleep(0.2)  # past the expiry: nothing fires
    assert transport.close_code is None and conn.close_code == CloseCode.NORMAL


async def test_no_credential_no_timer() -> None:
    conn = Connection(FakeTransport(), Identity(), SyncSettings())
    assert conn._deadline is None
