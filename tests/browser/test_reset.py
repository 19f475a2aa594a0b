"""Reset that sticks, in Chromium (docs/rooms.md): a tab edits offline (its copy in
IndexedDB), the room is reset, the tab comes back: the deleted text does not come back,
the page drops its copy, loads the new document and says so; a reset while tabs are
connected does the same at once."""

from __future__ import annotations

import asyncio

import httpx
from playwright.async_api import Browser, expect

from tests.browser.tabs import Tab
from tests.helpers.server import ServerProcess, run_cli

OFFLINE_TEXT = "Offline — changes kept in this browser"
OLD = "Old plan: sell the house 🏠 — naïve café"


async def stored(server: ServerProcess, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(f"{server.http}/api/rooms/plan{path}")


async def databases(tab: Tab) -> list[str]:
    names: list[str] = await tab.page.evaluate(
        "indexedDB.databases().then(found => found.map(d => d.name))"
    )
    return names


async def test_offline_edits_of_a_reset_room_never_come_back(
    browser: Browser, server: ServerProcess
) -> None:
    url = f"{server.http}/r/plan"
    alice = await Tab.open(browser, url, "Alice")
    await alice.type_at_end(OLD, delay_ms=5)
    await alice.wait_saved()
    bob = await Tab.open(browser, url, "Bob")
    await bob.wait_text("Old plan")
    assert "samepage:plan" in await databases(alice)

    # Alice edits offline (the server is down): her copy lives in IndexedDB.
    await asyncio.to_thread(server.stop)
    await expect(alice.save_status).to_have_text(OFFLINE_TEXT)
    await alice.type_at_end(" Offline: and the car.", delay_ms=5)
    await alice.local_writes_stored()
    # The room is reset meanwhile (no server holds the database: the CLI does it).
    done = await asyncio.to_thread(run_cli, "reset", "plan", "--db", server.db)
    assert done.returncode == 0, done.stderr
    await asyncio.to_thread(server.start)

    # Both come back: told the room was reset, on the new (empty) document.
    for tab in (alice, bob):
        notice = tab.page.locator(".reset-notice")
        await expect(notice).to_contain_text("This room was reset", timeout=20_000)
        await tab.wait_saved()
        assert await tab.text() == ""
    assert (await stored(server, "/content")).text == ""
    assert (await stored(server, "/history")).json() == []
    names = await databases(alice)
    assert "samepage:plan" not in names and "samepage:plan@1" in names
    # The new document works as any other; the old one is epoch 0, without the
    # offline edit (it never reached the server).
    await alice.type_at_end("New plan.", delay_ms=5)
    await bob.wait_text("New plan.")
    await alice.wait_saved()
    assert (await stored(server, "/content")).text == "New plan."
    old = (await stored(server, "/epochs/0/content")).text
    assert old == OLD and "car" not in old

    # A reset while both are connected: closed 4410 at once, the same ending.
    for tab in (alice, bob):
        await tab.page.evaluate("window.resetSeen = true")  # gone after a reload
    async with httpx.AsyncClient() as http:
        reset = await http.post(f"{server.http}/api/rooms/plan/reset")
        assert reset.json()["epoch"] == 2
    for tab in (alice, bob):
        await tab.page.wait_for_function("!window.resetSeen && window.samepage")
        await expect(tab.page.locator(".reset-notice")).to_be_visible()
        await tab.wait_saved()
        assert await tab.text() == ""
    assert (await stored(server, "/content")).text == ""
    await alice.type_at_end("Third life.", delay_ms=5)
    await bob.wait_text("Third life.")
    await alice.page.click(".reset-notice button")
    await expect(alice.page.locator(".reset-notice")).to_have_count(0)
    assert alice.errors == [] and bob.errors == []
