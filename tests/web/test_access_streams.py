"""Event streams (SSE) follow access changes like sockets do (docs/security.md): a
stream opened with a token ends with a `close` event when the token expires or is
revoked, and the token cannot open it again."""

from __future__ import annotations

import time

import httpx

from tests.helpers.clients import eventually
from tests.helpers.server import TEST_SECRET, ServerProcess
from tests.interop.test_revocation import revoke
from tests.web.test_events import follow
from web.auth import issue_token


async def test_a_stream_ends_when_its_token_expires_or_is_revoked(
    secure_server: ServerProcess,
) -> None:
    room = "followed"
    short = issue_token(TEST_SECRET, room, user="brief", ttl_s=5)  # room for a slow start
    doomed = issue_token(TEST_SECRET, room, user="doomed")
    steady = issue_token(TEST_SECRET, room, user="steady")
    bearer = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731
    async with (
        follow(secure_server.http, room, bearer(short)) as expiring,
        follow(secure_server.http, room, bearer(doomed)) as revoked,
        follow(secure_server.http, room, bearer(steady)) as kept,
    ):
        await eventually(lambda: bool(revoked.named("text")), 10, "the streams started")
        asked = time.time()
        await revoke(secure_server, {"user": "doomed"})
        await eventually(lambda: bool(revoked.named("close")), 2, "the revoked stream ended")
        assert time.time() - asked < 1.5
        assert revoked.named("close")[0].data == {"reason": "token_revoked"}
        assert not expiring.named("close")

        await eventually(lambda: bool(expiring.named("close")), 8, "the expired stream ended")
        assert expiring.named("close")[0].data == {"reason": "token_expired"}
        assert not kept.named("close") and not kept.ended
    async with httpx.AsyncClient(base_url=secure_server.http) as http:
        again = await http.get(f"/api/rooms/{room}/events", headers=bearer(doomed))
    assert again.status_code == 401
