"""Random and crafted frames into a live room on a real server, next to well-behaved
clients that must keep converging; other rooms keep their latency."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from sync import protocol
from tests.helpers.clients import eventually, raw_client, yclient
from tests.helpers.server import ServerProcess

CORPUS = json.loads(
    (Path(__file__).parents[1] / "sync" / "corpus" / "yrs_crashers.json").read_text()
)


def valid_frame() -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, "ok")
    return protocol.encode_update(doc.get_update())


frames = st.one_of(
    st.binary(max_size=80),
    st.binary(max_size=60).map(lambda b: b"\x00\x02" + protocol.write_var_bytes(b)),
    st.binary(max_size=60).map(lambda b: b"\x00\x01" + protocol.write_var_bytes(b)),
    st.binary(max_size=60).map(lambda b: b"\x01" + protocol.write_var_bytes(b)),
    st.integers(min_value=1, max_value=40).map(lambda n: valid_frame()[:n]),
    st.sampled_from(CORPUS["panics"][:5] + CORPUS["slow"][:3]).map(
        lambda h: protocol.encode_update(bytes.fromhex(h))
    ),
)


async def round_trip(doc_a: Doc[Any], doc_b: Doc[Any], mark: str) -> float:
    started = time.monotonic()
    doc_a.get("content", type=Text).insert(0, mark)
    await eventually(lambda: mark in str(doc_b.get("content", type=Text)), timeout=10)
    return time.monotonic() - started


@settings(max_examples=30, deadline=None, print_blob=True, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(frames, min_size=1, max_size=5))
def test_fuzzed_frames_next_to_converging_clients(
    server: ServerProcess, batch: list[bytes]
) -> None:
    asyncio.run(fuzz_once(server, batch))


async def fuzz_once(server: ServerProcess, batch: list[bytes]) -> None:
    """Hostile frames into `victim` while two clients there and two in `quiet` edit."""
    async with (
        yclient(server.ws, "victim") as a,
        yclient(server.ws, "victim") as b,
        yclient(server.ws, "quiet") as q1,
        yclient(server.ws, "quiet") as q2,
    ):
        async with raw_client(server.ws, "victim") as hostile:
            for frame in batch:
                try:
                    await hostile.send(frame)
                except Exception:
                    break
            try:
                await hostile.closed(timeout=0.3)
            except TimeoutError:
                pass
        latency = await round_trip(q1, q2, f"<{uuid.uuid4().hex[:8]}>")
        assert latency < 1.0, f"quiet room round trip {latency:.3f}s"
    assert server.proc is not None and server.proc.poll() is None  # never died
    # The victims may have been disconnected by a room reload (after a CRDT panic);
    # fresh clients still converge on one document.
    del a, b
    async with yclient(server.ws, "victim") as c, yclient(server.ws, "victim") as d:
        c.get("content", type=Text).insert(0, "v")
        await eventually(
            lambda: str(d.get("content", type=Text)) == str(c.get("content", type=Text))
        )
