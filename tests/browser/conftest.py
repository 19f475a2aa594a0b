"""Real Chromium (Debian's) driven by Playwright against a real `samepage serve`.

Outside CI a missing Chromium skips these tests with a printed reason; with CI=true it
fails them. The server fixture is `server` from tests/conftest.py (a subprocess on a free
loopback port with its own SQLite file).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.browser.node import in_ci
from tests.browser.tabs import TIMEOUT_MS

# Assertions wait as long as the pages' own actions (Playwright's 5 s default missed
# awareness and restores on a machine loaded by several suites: a slow box, not a bug).
expect.set_options(timeout=TIMEOUT_MS)

CHROMIUM = os.environ.get("SAMEPAGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def chromium_or_skip() -> str:
    """The Chromium binary; skip (not in CI) or fail (in CI) when it is missing."""
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if path:
        return path
    reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if in_ci():
        pytest.fail(f"{reason}; browser tests must run in CI")
    print(f"SKIP browser tests: {reason}")
    pytest.skip(reason)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium per test (each tab gets its own context)."""
    path = chromium_or_skip()
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
def artifacts() -> Path:
    """test-artifacts/ (gitignored): screenshots of the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
