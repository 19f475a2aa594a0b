"""Who reports a room's changes, so that each goes out once in a cluster: a node that
has a `room.changed` due claims the seqs up to its own. One node: `LocalClaims`;
with `--redis`: `RedisClaims`, one atomic script per claim over a hash per room,
timed by the Redis server's clock so that every node agrees on the interval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

KEY_PREFIX = "samepage:webhook:changed:"
KEY_TTL_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer: `won` with the seq reported before (`after`), or `wait_s` before
    trying again (another node reported the room less than the interval ago), or
    neither (another node reported up to this seq already)."""

    won: bool
    after: int = 0
    wait_s: float = 0.0


class Claims(Protocol):
    """Claims of `room.changed` reports."""

    async def claim(self, room: str, seq: int, interval_s: float) -> Claim:
        """Claim the changes of `room` up to `seq`."""

    async def aclose(self) -> None:
        """Release resources (idempotent)."""


class LocalClaims:
    """One node reports everything it sees (the debouncer keeps the interval)."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    async def claim(self, room: str, seq: int, interval_s: float) -> Claim:
        """Won unless `seq` was reported already."""
        after = self._last.get(room, 0)
        if seq <= after:
            return Claim(False)
        self._last[room] = seq
        return Claim(True, after)

    async def aclose(self) -> None:
        """Nothing held."""


# KEYS[1] the room's hash; ARGV seq, interval (ms). Returns {code, after, wait_ms}:
# 1 won, 0 reported already, 2 too soon.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'seq', 'sent')
local seq = tonumber(v[1]) or 0
local sent = tonumber(v[2]) or 0
local want = tonumber(ARGV[1])
if want <= seq then return {0, seq, 0} end
local wait = sent + tonumber(ARGV[2]) - now
if sent > 0 and wait > 0 then return {2, seq, wait} end
redis.call('HSET', KEYS[1], 'seq', want, 'sent', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, seq, 0}
"""


class RedisClaims:
    """Claims every node of the cluster agrees on (the bus's Redis)."""

    def __init__(self, url: str) -> None:
        self._redis: Redis = Redis.from_url(url)
        self._script = self._redis.register_script(_SCRIPT)

    async def claim(self, room: str, seq: int, interval_s: float) -> Claim:
        """Atomically: won (and noted) unless reported already or too soon."""
        code, after, wait_ms = await self._script(
            keys=[KEY_PREFIX + room], args=[seq, int(interval_s * 1000), KEY_TTL_MS]
        )
        if int(code) == 2:
            return Claim(False, int(after), int(wait_ms) / 1000)
        return Claim(int(code) == 1, int(after))

    async def aclose(self) -> None:
        """Close the connection pool (idempotent)."""
        await self._redis.aclose()
