"""Room for documents nested 1000 deep: Python's json and == recurse once (or twice)
per level, and the default limit of 1000 stops them."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

DEEP_LIMIT = 20_000


@contextlib.contextmanager
def deep_recursion(limit: int = DEEP_LIMIT) -> Iterator[None]:
    """Raise the interpreter's recursion limit for the block."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def loads(data: str | bytes) -> Any:
    """`json.loads` of a document nested up to a few thousand levels."""
    with deep_recursion():
        return json.loads(data)
