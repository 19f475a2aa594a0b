"""The page's logic under Node's test runner: save tracking, backoff jitter, presence,
history replay, word diff and the history API client."""

from __future__ import annotations

import subprocess

from tests.browser.node import FRONTEND, node_or_skip


def test_frontend_unit_tests() -> None:
    """`node --test web/frontend/test/` passes."""
    node = node_or_skip()
    result = subprocess.run(
        [node, "--test", "test/"],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
