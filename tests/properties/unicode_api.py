"""A time-bounded client of one server for the Unicode property tests: every call has a
timeout and is followed by `/healthz` (which must answer within 1 s), and a failure
names the document (its seed), the route and what was expected."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.server import ROOT
from web.cli import main

CALL_TIMEOUT = 15.0
HEALTH_TIMEOUT = 1.0
CLI_TIMEOUT = 30.0
MISSING = object()
EMPTY = {"text": "", "map": {}, "array": [], "xml": {"xmlFragment": []}}


class Api:
    """HTTP calls against one server, each bounded in time and followed by /healthz."""

    def __init__(self, http: httpx.AsyncClient, label: str) -> None:
        self.http = http
        self.label = label

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One bounded call, then /healthz; 2xx expected."""
        what = f"[{self.label}] {method} {path} {kwargs.get('params') or kwargs.get('json') or ''}"
        try:
            response = await self.http.request(method, path, timeout=CALL_TIMEOUT, **kwargs)
        except httpx.TimeoutException:
            raise AssertionError(f"{what}: no answer within {CALL_TIMEOUT}s") from None
        await self.healthy(after=what)
        assert response.is_success, f"{what}: {response.status_code} {response.text[:500]}"
        return response

    async def healthy(self, after: str) -> None:
        """/healthz answers within HEALTH_TIMEOUT."""
        try:
            health = await self.http.get("/healthz", timeout=HEALTH_TIMEOUT)
        except httpx.TimeoutException:
            raise AssertionError(f"/healthz did not answer in 1s after {after}") from None
        assert health.status_code == 200, f"/healthz {health.status_code} after {after}"

    async def content(self, room: str, fmt: str, at: int | None = None) -> httpx.Response:
        """`GET /api/rooms/{room}/content?format=&at=`."""
        params: dict[str, Any] = {"format": fmt}
        if at is not None:
            params["at"] = at
        return await self.request("GET", f"/api/rooms/{room}/content", params=params)

    async def post_updates(self, room: str, updates: list[bytes], author: str = "gen") -> None:
        """Store updates in order (seq k = update k)."""
        for update in updates:
            await self.request(
                "POST",
                f"/api/rooms/{room}/updates",
                content=update,
                headers={"X-Samepage-Author": author},
            )


async def cli(*args: str, label: str, out: Path | None = None, process: bool = False) -> bytes:
    """`samepage ARGS` bounded in time; what it wrote to `out` (`-o`), or its stdout.

    In this process (`web.cli.main` in a thread: the CLI is a thin layer over functions
    a test can call, and a new interpreter costs ~3 s of imports on a busy CI box), or
    with `process=True` as the console script in a subprocess."""
    argv = [*args, *(["-o", str(out)] if out is not None else [])]
    what = f"[{label}] samepage {' '.join(args)}"
    if process:
        run = asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "web.cli", *argv],
            cwd=ROOT,
            capture_output=True,
            timeout=CLI_TIMEOUT,
        )
        try:
            done = await run
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{what}: over {CLI_TIMEOUT}s") from None
        assert done.returncode == 0, f"{what}: {done.stderr[-1500:]!r}"
        return _read(out) if out is not None else done.stdout
    assert out is not None or args[0] != "export", "in-process exports need out="
    try:
        code = await asyncio.wait_for(asyncio.to_thread(main, argv), CLI_TIMEOUT)
    except TimeoutError:
        raise AssertionError(f"{what}: over {CLI_TIMEOUT}s") from None
    assert code == 0, f"{what}: exit {code}"
    return _read(out) if out is not None else b""


def _read(path: Path) -> bytes:
    return path.read_bytes()  # small files of the test's own tmp dir


def _merge_plain(value: Any) -> Any:
    """Normalise what the contract leaves open: a text whose delta holds nothing but plain
    strings is its string (with or without the delta form)."""
    if isinstance(value, dict):
        if set(value) == {"delta"} and _plain(value["delta"]):
            return "".join(op["insert"] for op in value["delta"])
        if set(value) == {"text", "delta"} and _plain(value["delta"]):
            return {"text": value["text"]}
        return {k: _merge_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_merge_plain(v) for v in value]
    return value


def _plain(delta: Any) -> bool:
    return isinstance(delta, list) and all(
        isinstance(op, dict) and set(op) == {"insert"} and isinstance(op["insert"], str)
        for op in delta
    )


def json_mismatch(expected: dict[str, Any], got: Any, types: dict[str, str]) -> str | None:
    """Where the server's `format=json` differs from Yjs's rendering, or None. A root that
    is empty in Yjs may be absent, null or empty of its kind (its type may be unknowable
    once its content is deleted)."""
    if not isinstance(got, dict):
        return f"not an object: {got!r}"
    for name in sorted(set(expected) | set(got)):
        kind = types.get(name, "text")
        want = _merge_plain(expected.get(name, MISSING))
        have = _merge_plain(got.get(name, MISSING))
        if want is MISSING or want == EMPTY[kind]:
            if have is not MISSING and have is not None and have != EMPTY[kind]:
                return f"root {name!r}: expected empty or absent, got {have!r}"
        elif have != want:
            return f"root {name!r} ({kind}):\n  expected {want!r}\n  got      {have!r}"
    return None


def apply_patch(text: str, index: int, delete: int, insert: str) -> str:
    """Replace `delete` code points at `index` by `insert`."""
    assert 0 <= index <= len(text) and index + delete <= len(text), (index, delete, len(text))
    return text[:index] + insert + text[index + delete :]
