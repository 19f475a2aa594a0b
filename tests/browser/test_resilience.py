"""The server goes away: tabs keep their edits, reconnect with backoff and converge."""

from __future__ import annotations

import asyncio

import httpx
from playwright.async_api import Browser, expect

from tests.browser.tabs import Tab
from tests.helpers.server import ServerProcess

OFFLINE_TEXT = "Offline — changes kept in this browser"


async def stored_text(server: ServerProcess, room: str) -> str:
    """The room's text as the server has it."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.http}/api/rooms/{room}/content?format=text")
        response.raise_for_status()
        return response.text


async def test_server_restart_both_tabs_reconnect_and_converge(
    browser: Browser, server: ServerProcess
) -> None:
    """Stop the server mid-session, type in both tabs, start it: nothing is lost."""
    url = f"{server.http}/r/restart"
    alice = await Tab.open(browser, url, "Alice")
    bob = await Tab.open(browser, url, "Bob")
    await alice.type_at_end("before the restart.")
    await bob.wait_text("before the restart.")
    await bob.wait_saved()

    await asyncio.to_thread(server.stop)
    for tab in (alice, bob):
        await expect(tab.connection).not_to_have_attribute("data-state", "connected")
        await expect(tab.save_status).to_have_text(OFFLINE_TEXT)
    await alice.type_at_end(" Alice while down.")
    await bob.type_at_end(" Bob while down.")

    await asyncio.to_thread(server.start)
    for tab in (alice, bob):
        await tab.wait_saved()
        for fragment in ("before the restart.", "Alice while down.", "Bob while down."):
            await tab.wait_text(fragment)
    assert await alice.text() == await bob.text()
    assert await stored_text(server, "restart") == await alice.text()
    # The presence bars recover too: both people, no ghosts.
    for tab in (alice, bob):
        await expect(tab.page.locator("#people .person")).to_have_count(2)
    assert alice.errors == [] and bob.errors == []


async def test_offline_edits_survive_a_reload_and_reach_the_server(
    browser: Browser, server: ServerProcess
) -> None:
    """With the server down, type, reload (the page comes from the service worker's
    cache, the text from IndexedDB), then start the server: the text reaches the other
    tab and the database."""
    url = f"{server.http}/r/offline"
    alice = await Tab.open(browser, url, "Alice")
    bob = await Tab.open(browser, url, "Bob")
    await expect(alice.page.locator("html")).to_have_attribute("data-offline-ready", "true")

    await asyncio.to_thread(server.stop)
    await expect(alice.save_status).to_have_text(OFFLINE_TEXT)
    await alice.type_at_end("Written on the train.")
    await alice.local_writes_stored()
    await alice.page.reload()
    await alice.wait_text("Written on the train.")
    await expect(alice.save_status).to_have_text(OFFLINE_TEXT)
    await expect(alice.connection).not_to_have_attribute("data-state", "connected")

    await asyncio.to_thread(server.start)
    await alice.wait_saved()
    await bob.wait_text("Written on the train.", timeout_ms=20_000)
    assert "Written on the train." in await stored_text(server, "offline")
    await bob.wait_saved()
    assert await alice.text() == await bob.text()
