"""Revocations and grants: the rules they make (`web.access_rules`), and both stores
(memory, a real SQLite file) keeping them until every token they refuse has expired."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.access import AccessStore, GrantRule, MemoryAccessStore, Revocation
from storage.sql.access import SqlAccessStore
from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from sync.types import Credential, Identity
from web.access_rules import AccessRules


def who(user: str, jti: str = "j1", issued: float = 100.0, writable: bool = True) -> Identity:
    return Identity(user, user, writable, Credential(jti, issued, issued + 3600, writable))


def test_rules_refuse_by_jti_by_user_and_by_room_only_for_older_tokens() -> None:
    rules = AccessRules()
    rules.add(Revocation("jti", "j1", 150.0, 9e9))
    rules.add(Revocation("user", "mallory", 200.0, 9e9))
    rules.add(Revocation("room", "secret", 300.0, 9e9))
    assert rules.refusal(who("alice", "j1"), "any") == "token revoked"
    assert rules.refusal(who("mallory", "j2", issued=200), None) is not None
    assert rules.refusal(who("mallory", "j2", issued=201), None) is None  # issued later
    assert rules.refusal(who("bob", "j3"), "secret") == "token revoked for this room"
    assert rules.refusal(who("bob", "j3"), "open") is None
    assert rules.refusal(who("bob", "j3", issued=301), "secret") is None
    assert rules.refusal(Identity(), "secret") is None  # no token, no auth: nothing to revoke
    rules.prune(now=1e10)
    assert rules.refusal(who("alice", "j1"), "any") is None


def test_grants_lower_never_raise_and_the_later_change_wins() -> None:
    rules = AccessRules()
    writer, reader = who("w"), who("r", writable=False)
    rules.set_grant(GrantRule("w", "doc", "read", 10.0))
    rules.set_grant(GrantRule("r", "doc", "write", 10.0))
    assert rules.effective(writer, "doc").can_write is False
    assert rules.effective(writer, "other").can_write is True
    assert rules.effective(reader, "doc").can_write is False  # a grant never exceeds the token
    rules.set_grant(GrantRule("w", "doc", "write", 5.0))  # older news: ignored
    assert rules.effective(writer, "doc").can_write is False
    rules.set_grant(GrantRule("w", "doc", "write", 20.0))
    assert rules.effective(writer, "doc") is writer


@pytest.fixture(params=["memory", "sqlite"])
async def access_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AccessStore]:
    if request.param == "memory":
        yield MemoryAccessStore()
        return
    store = SqlStore(database_url(str(tmp_path / "access.db")))
    await store.start()  # migration 4 makes the tables
    try:
        yield SqlAccessStore(store.engine)
    finally:
        await store.aclose()


async def test_stores_keep_widen_and_drop_expired_revocations(access_store: AccessStore) -> None:
    now = time.time()
    await access_store.add_revocation(Revocation("jti", "a", now, now + 100, "ops"))
    await access_store.add_revocation(Revocation("jti", "a", now - 5, now + 200))  # widen until
    await access_store.add_revocation(Revocation("user", "é-ü 😀", now, now + 10))
    await access_store.add_revocation(Revocation("room", "old", now - 100, now - 1))  # expired
    await access_store.set_grant(GrantRule("bob", "doc", "read", now, "ops"))
    await access_store.set_grant(GrantRule("bob", "doc", "write", now + 1))
    revocations, grants = await access_store.load(now)
    by_key = {(r.kind, r.value): r for r in revocations}
    assert set(by_key) == {("jti", "a"), ("user", "é-ü 😀")}
    assert by_key[("jti", "a")].until == pytest.approx(now + 200)
    assert by_key[("jti", "a")].revoked_at == pytest.approx(now)
    assert by_key[("jti", "a")].by == "ops"
    assert [(g.user, g.room, g.perm) for g in grants] == [("bob", "doc", "write")]
    later, _ = await access_store.load(now + 50)
    assert [(r.kind, r.value) for r in later] == [("jti", "a")]
