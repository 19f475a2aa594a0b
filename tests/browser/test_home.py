"""The landing page lists the rooms with who is there, and opens a room by name."""

from __future__ import annotations

from playwright.async_api import Browser, expect

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
