"""The landing page lists the rooms with who is there, and opens a room by name."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, expect
from pycrdt import Doc, Text

from tests.browser.tabs import Tab
from tests.helpers.server import ServerProcess


async def test_landing_lists_rooms_and_opens_one(browser: Browser, server: ServerProcess) -> None:
    """A room being edited shows up with "1 person here"; the field opens a new room."""
    writer = await Tab.open(browser, f"{server.http}/r/standup", "Erin")
    await writer.type_at_end("Yesterday: shipped the page.")
    await writer.wait_saved()

    context = await browser.new_context(viewport={"width": 390, "height": 760})
    context.set_default_timeout(15_000)
    await context.add_init_script("localStorage.setItem('samepage:name', 'Frank')")
    page = await context.new_page()
    await page.goto(server.http + "/")
    row = page.locator(".room", has_text="standup")
    await expect(row).to_contain_text("1 person here")
    await expect(row).to_contain_text("edited just now")

    await page.fill("#room-input", "Design review")
    await expect(page.locator("#room-hint")).to_have_text("Opens “Design-review”")
    await page.press("#room-input", "Enter")
    await page.wait_for_url(f"{server.http}/r/Design-review")
    await expect(page.locator("#save-status")).to_have_text("Saved")
    await context.close()


async def test_name_is_asked_once_and_fits_a_phone(browser: Browser, server: ServerProcess) -> None:
    """First visit: a dialog suggests a name; the chosen one is shown and remembered.
    At phone width nothing overflows sideways."""
    context = await browser.new_context(viewport={"width": 390, "height": 760})
    context.set_default_timeout(15_000)
    page = await context.new_page()
    await page.goto(f"{server.http}/r/names")
    dialog = page.locator("#name-dialog")
    await expect(dialog).to_be_visible()
    suggested = await page.input_value("#name-input")
    assert len(suggested.split()) == 2, suggested
    await page.fill("#name-input", "Grace")
    await page.click("text=Save name")
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#people .person-local")).to_contain_text("Grace(you)")
    await expect(page.locator("#save-status")).to_have_text("Saved")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    await page.reload()
    await expect(page.locator("#people .person-local")).to_contain_text("Grace(you)")
    await expect(dialog).to_be_hidden()
    await context.close()


async def test_a_name_typed_and_confirmed_with_enter_is_kept(
    browser: Browser, server: ServerProcess
) -> None:
    """Enter in the name field saves the typed name (it used to press "Keep suggested")."""
    context = await browser.new_context()
    context.set_default_timeout(15_000)
    page = await context.new_page()
    await page.goto(f"{server.http}/r/enter-name")
    await expect(page.locator("#name-dialog")).to_be_visible()
    await page.fill("#name-input", "Zoë Ω")
    await page.press("#name-input", "Enter")
    await expect(page.locator("#name-dialog")).to_be_hidden()
    await expect(page.locator("#people .person-local")).to_contain_text("Zoë Ω(you)")
    assert await page.evaluate("localStorage.getItem('samepage:name')") == "Zoë Ω"
    await page.locator("#people .person-local").click()  # asked again: Keep leaves it
    await page.fill("#name-input", "Someone else")
    await page.click("#name-keep")
    await expect(page.locator("#people .person-local")).to_contain_text("Zoë Ω(you)")
    await context.close()


async def test_one_person_in_several_tabs_is_one_chip(
    browser: Browser, server: ServerProcess
) -> None:
    """Three tabs of one browser are "you · 3 tabs"; two of another are "Alice · 2 tabs"."""
    url = f"{server.http}/r/many-tabs"
    mine = await browser.new_context()
    mine.set_default_timeout(15_000)
    await mine.add_init_script("localStorage.setItem('samepage:name', 'Grace')")
    pages = [await mine.new_page() for _ in range(3)]
    for page in pages:
        await page.goto(url)
    alice = await Tab.open(browser, url, "Alice")
    second = await alice.context.new_page()
    await second.goto(url)
    first = pages[0]
    await expect(first.locator("#people .person-local")).to_contain_text("Grace(you · 3 tabs)")
    remote = first.locator("#people .person:not(.person-local)")
    await expect(remote).to_have_count(1)
    await expect(remote).to_contain_text("Alice· 2 tabs")
    await expect(first.locator("#people-count")).to_have_text("2 here")
    await expect(second.locator("#people .person-local")).to_contain_text("Alice(you · 2 tabs)")
    await pages[2].close()
    await expect(first.locator("#people .person-local")).to_contain_text("Grace(you · 2 tabs)")
    await mine.close()
    await alice.close()


async def test_the_room_list_pages_and_filters_with_the_api(
    browser: Browser, server: ServerProcess
) -> None:
    """60 rooms: the page shows 50 and "More rooms" the rest (GET /api/rooms with a
    cursor); typing a name narrows the list to rooms starting with it (prefix)."""
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, "x")
    names = [f"r{n:02d}" for n in range(55)] + [f"team-{n}" for n in range(5)]
    async with httpx.AsyncClient(base_url=server.http) as http:
        for name in names:
            reply = await http.post(f"/api/rooms/{name}/updates", content=doc.get_update())
            assert reply.status_code == 200
    context = await browser.new_context()
    context.set_default_timeout(15_000)
    page = await context.new_page()
    await page.goto(server.http + "/")
    rows = page.locator("#rooms .room")
    await expect(rows).to_have_count(50)
    await expect(rows.first).to_contain_text("team-4")  # most recently edited first
    more = page.locator("#rooms-more")
    await expect(more).to_be_visible()
    await more.click()
    await expect(rows).to_have_count(60)
    await expect(more).to_be_hidden()
    await page.fill("#room-input", "team-")
    await expect(rows).to_have_count(5)
    await page.fill("#room-input", "nothing-like-it")
    await expect(rows).to_have_count(0)
    await expect(page.locator("#rooms-note")).to_contain_text("No rooms starting with")
    await context.close()
