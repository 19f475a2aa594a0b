"""Python side of driver.mjs: a Node process hosting real Yjs + y-websocket clients.

`NodeDriver` owns one `node driver.mjs` process and talks JSON lines to it;
`NodeClient` is one Y.Doc + WebsocketProvider inside it. Outside CI a missing Node
or a missing `npm ci` skips with a printed reason; with CI set it fails.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sync.protocol import decode_state_vector
from tests.helpers.deep import loads

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "driver.mjs"
DOCGEN = HERE / "docgen.mjs"


def node_or_skip() -> str:
    """The `node` binary once `npm ci` has run in tests/interop; skip/fail otherwise."""
    node = shutil.which("node")
    if node is None:
        missing = "node is not installed"
    elif not (HERE / "node_modules" / "y-websocket" / "package.json").exists():
        missing = "tests/interop/node_modules is missing (run `npm ci` in tests/interop)"
    else:
        return node
    if os.environ.get("CI"):
        pytest.fail(f"{missing}; the interop tests must run in CI")
    print(f"SKIP interop test: {missing}")
    pytest.skip(missing)


class NodeError(RuntimeError):
    """The driver answered a command with an error (its message is the JS stack)."""


class NodeDriver:
    """One `node driver.mjs` process; `client()` opens Yjs clients inside it. Another
    script speaking the same JSON lines (`script=DOCGEN`) is driven with `call()`."""

    def __init__(self, node: str, script: Path = DRIVER) -> None:
        self.node = node
        self.script = script
        self.proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._names = itertools.count(1)
        self.stderr: list[str] = []
        self._stderr_reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Spawn the process and wait for its ready line."""
        self.proc = await asyncio.create_subprocess_exec(
            self.node,
            str(self.script),
            cwd=HERE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 15)
        if not line or not json.loads(line).get("ready"):
            raise NodeError(f"driver did not start: {line!r}")
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self._stderr_reader = asyncio.get_running_loop().create_task(self._read_stderr())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                message = loads(line)  # documents nested 1000 deep come back too
            except ValueError:
                self.stderr.append(f"(stdout) {line.decode(errors='replace').rstrip()}")
                continue
            future = self._waiting.pop(message.get("id"), None)
            if future is None or future.done():
                continue
            if message["ok"]:
                future.set_result(message["result"])
            else:
                future.set_exception(NodeError(message["error"]))
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(NodeError(f"driver exited: {self.stderr[-5:]}"))

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.stderr.append(line.decode(errors="replace").rstrip())

    async def call(self, op: str, *, reply_within: float = 15.0, **args: Any) -> Any:
        """Send one command; return its result or raise `NodeError`."""
        assert self.proc is not None and self.proc.stdin is not None
        command_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        self.proc.stdin.write(json.dumps({"id": command_id, "op": op, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        return await asyncio.wait_for(future, reply_within)

    async def client(
        self,
        ws_base: str,
        room: str,
        *,
        synced: bool = True,
        name: str | None = None,
        params: dict[str, str] | None = None,
    ) -> NodeClient:
        """Open a y-websocket client on `ws_base/room` (waits for sync unless told not to);
        `params` become the URL's query (y-websocket's `params` option, e.g. a token)."""
        client = NodeClient(self, name or f"node{next(self._names)}")
        opened = await self.call(
            "open", client=client.name, url=ws_base, room=room, params=params or {}
        )
        client.client_id = opened["clientID"]
        if synced:
            await client.wait_synced()
        return client

    async def kill(self) -> None:
        """kill -9 the Node process (a client that crashes: no close frames)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def aclose(self) -> None:
        """Ask the driver to exit; kill it if it does not (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in (self._reader, self._stderr_reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


class NodeClient:
    """One real Yjs client (Y.Doc + y-websocket WebsocketProvider) in a `NodeDriver`."""

    def __init__(self, driver: NodeDriver, name: str) -> None:
        self.driver = driver
        self.name = name
        self.client_id = 0

    async def _call(self, op: str, **args: Any) -> Any:
        return await self.driver.call(op, client=self.name, **args)

    async def wait_synced(self, timeout: float = 10.0) -> None:
        """Until the provider has completed a sync with the server."""
        await self.driver.call(
            "waitSynced", reply_within=timeout + 5, client=self.name, timeout=timeout * 1000
        )

    async def insert(self, index: int, content: str) -> int:
        """Insert at an absolute (UTF-16) index, clamped; returns the new length."""
        length: int = await self._call("insert", index=index, content=content)
        return length

    async def insert_at(self, fraction: float, content: str) -> int:
        """Insert at `fraction` of the current length; returns the new length."""
        length: int = await self._call("insert", at=fraction, content=content)
        return length

    async def delete_at(self, fraction: float, length: int) -> int:
        """Delete up to `length` characters from `fraction` of the current length."""
        new_length: int = await self._call("delete", at=fraction, length=length)
        return new_length

    async def map_set(self, map_name: str, key: str, value: Any) -> None:
        """`doc.getMap(map_name).set(key, value)` (a JSON value)."""
        await self._call("mapSet", map=map_name, key=key, value=value)

    async def array_push(self, array_name: str, values: list[Any]) -> None:
        """`doc.getArray(array_name).push(values)`."""
        await self._call("arrayPush", array=array_name, values=values)

    async def json(self, types: dict[str, str]) -> dict[str, Any]:
        """`toJSON()` of the named roots, typed as given ("map", "array" or "text")."""
        result: dict[str, Any] = await self._call("json", types=types)
        return result

    async def type(self, count: int, char: str = "x") -> int:
        """`count` one-character inserts at the end in one synchronous burst (each its own
        transaction, so its own y-websocket message); returns the new length."""
        length: int = await self._call("type", count=count, char=char)
        return length

    async def text(self) -> str:
        """The `content` Y.Text."""
        text: str = await self._call("text")
        return text

    async def state_vector(self) -> dict[int, int]:
        """`Y.encodeStateVector(doc)` decoded to {client: clock}."""
        return decode_state_vector(base64.b64decode(await self._call("stateVector")))

    async def update(self) -> bytes:
        """`Y.encodeStateAsUpdate(doc)`."""
        return base64.b64decode(await self._call("update"))

    async def set_awareness(self, state: dict[str, Any] | None) -> None:
        """`awareness.setLocalState(state)`."""
        await self._call("setAwareness", state=state)

    async def awareness(self) -> dict[int, Any]:
        """Every awareness state this client knows, by client id."""
        states: dict[str, Any] = await self._call("awareness")
        return {int(k): v for k, v in states.items()}

    async def status(self) -> dict[str, Any]:
        """{connected, synced, shouldConnect, closes: [close codes seen], closeTimes: [ms
        since the epoch of each], reasons: [close reasons], opens: connections made}."""
        status: dict[str, Any] = await self._call("status")
        return status

    async def disconnect(self) -> None:
        """`provider.disconnect()` (keeps the doc; edits go out on `connect`)."""
        await self._call("disconnect")

    async def connect(self) -> None:
        """`provider.connect()`."""
        await self._call("connect")

    async def close(self) -> None:
        """`provider.destroy()` and `doc.destroy()`."""
        await self._call("close")


@contextlib.asynccontextmanager
async def node_driver(script: Path = DRIVER) -> AsyncIterator[NodeDriver]:
    """A started `NodeDriver` (skips or fails when Node or node_modules is missing)."""
    driver = NodeDriver(node_or_skip(), script)
    await driver.start()
    try:
        yield driver
    finally:
        await driver.aclose()
