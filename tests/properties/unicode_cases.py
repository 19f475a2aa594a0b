"""The documents the Unicode property tests run over, and the server they are stored in.

Documents are seeded: `SAMEPAGE_UNICODE_SEEDS="node:7,pycrdt:3"` replays exactly those;
otherwise a fixed list plus one fresh seed of each generator (printed)."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.helpers.server import ServerProcess, module_server
from tests.interop.node import DOCGEN, NodeDriver, node_driver
from tests.properties.unicode_api import Api
from tests.properties.ydocs import YDocument, node_document, pycrdt_document, scripted_document

STEPS = 40
FIXED = ["node:1", "node:2", "pycrdt:1", "pycrdt:2"]
SCRIPTS = ["script:grapheme", "script:typed"]


def seeds() -> list[str]:
    """The documents of this run: the env's list, or the fixed ones plus fresh seeds."""
    chosen = os.environ.get("SAMEPAGE_UNICODE_SEEDS")
    if chosen:
        return [s.strip() for s in chosen.split(",") if s.strip()]
    fresh = random.SystemRandom()
    extra = [f"node:{fresh.randrange(10**6)}", f"pycrdt:{fresh.randrange(10**6)}"]
    print(f"unicode docs: fresh seeds {extra} (replay: SAMEPAGE_UNICODE_SEEDS={','.join(extra)})")
    return FIXED + SCRIPTS + extra


@dataclass
class Case:
    """A document stored in its own room of the shared server."""

    doc: YDocument
    room: str

    @property
    def label(self) -> str:
        """How to replay it."""
        return self.doc.label

    def sample(self, count: int = 3) -> list[int]:
        """0, the head, and `count` versions in between (the same for a seed)."""
        inner = list(range(1, self.doc.head))
        rng = random.Random(self.label)
        return sorted({0, self.doc.head, *rng.sample(inner, min(count, len(inner)))})


async def make_document(driver: NodeDriver, label: str) -> YDocument:
    """The document a label names."""
    kind, _, value = label.partition(":")
    if kind == "node":
        return await node_document(driver, int(value), STEPS)
    if kind == "pycrdt":
        return await pycrdt_document(driver, int(value), STEPS)
    return await scripted_document(driver, value)


def room_for(label: str) -> str:
    """A fresh room name for a document."""
    return f"u-{label.replace(':', '-')}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def userver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module; checkpoints every 7 updates so versions mix a
    checkpoint and the rows after it."""
    yield from module_server(tmp_path_factory.mktemp("unicode"), "--checkpoint-every", "7")


@pytest.fixture(autouse=True)
def responsive(userver: ServerProcess) -> None:
    """A test that froze the server fails alone: the next one gets it back (kill -9)."""
    try:
        httpx.get(userver.http + "/healthz", timeout=2).raise_for_status()
    except httpx.HTTPError:
        userver.kill()
        userver.start()


@pytest.fixture(scope="module")
def cases(userver: ServerProcess) -> list[Case]:
    """Every document of this run, generated, rendered by Yjs and stored."""

    async def build() -> list[Case]:
        async with node_driver(DOCGEN) as driver:
            docs = [await make_document(driver, label) for label in seeds()]
        found = []
        async with httpx.AsyncClient(base_url=userver.http) as http:
            for doc in docs:
                case = Case(doc, room_for(doc.label))
                await Api(http, doc.label).post_updates(case.room, doc.updates)
                found.append(case)
        return found

    return asyncio.run(build())
