"""History panel: "Make a copy from this version" makes a new room with that version's
text, and the copy's panel says where it came from."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.tabs import Tab
from tests.browser.test_history import WIDE, Api, open_history, scrub_to
from tests.helpers.server import ServerProcess


async def test_make_a_copy_from_a_past_version(browser: Browser, server: ServerProcess) -> None:
    api = Api(server, "plans")
    alice = await Tab.open(browser, f"{server.http}/r/plans", "Alice", viewport=WIDE)
    await alice.type_at_end("Plan A: café ☕ 🧑🏽‍🚀", delay_ms=5)
    await alice.wait_saved()
    await alice.type_at_end(" — then plan B", delay_ms=5)
    await alice.wait_saved()
    await open_history(alice, api)
    page = alice.page
    seq = await scrub_to(page, 14)
    wanted = await api.text_at(seq)
    assert wanted.startswith("Plan A") and "plan B" not in wanted

    button = page.locator("#history-fork")
    await expect(button).to_have_text(f"Make a copy from version {seq}")
    await button.click()
    dialog = page.locator("#fork-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#fork-name")).to_have_value(f"plans-copy-{seq}")
    await page.fill("#fork-name", "plans-draft")
    await page.click("#fork-confirm")
    note = page.locator("#history-note")
    await expect(note).to_contain_text(f"Copied version {seq} to “plans-draft”")
    assert await Api(server, "plans-draft").text_at() == wanted
    assert await api.text_at() == "Plan A: café ☕ 🧑🏽‍🚀 — then plan B"  # unchanged

    # The same name again: a clear error, nothing changed.
    await button.click()
    await page.fill("#fork-name", "plans-draft")
    await page.click("#fork-confirm")
    await expect(note).to_contain_text("Could not make a copy (room plans-draft exists)")

    await button.click()
    await page.fill("#fork-name", "plans-final")
    await page.click("#fork-confirm")
    await note.get_by_role("button", name="Open the copy").click()
    await expect(page).to_have_url(f"{server.http}/r/plans-final")
    copy = Tab(alice.context, page, "Alice")
    await copy.wait_saved()
    assert await copy.text() == wanted
    await page.click("#history-button")
    origin = page.locator("#history-origin")
    await expect(origin).to_have_text(f"Copied from plans at version {seq}.")
    assert alice.errors == []
