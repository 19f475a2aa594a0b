"""With `--secret`: the page passes `?token=` along, honours read-only, shows refusals."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.tabs import TIMEOUT_MS, VIEWPORT, Tab
from tests.helpers.server import TEST_SECRET, ServerProcess
from web.auth import issue_token


async def test_tokens_write_read_only_and_refused(
    browser: Browser, secure_server: ServerProcess
) -> None:
    """A write token edits under its user's name; a read-only one watches; a bad one is
    told it has no access."""
    base = f"{secure_server.http}/r/board"
    writer_token = issue_token(TEST_SECRET, "board", user="Heidi")
    writer = await Tab.open(browser, f"{base}?token={writer_token}", "ignored")
    await expect(writer.page.locator("#people .person-local")).to_contain_text("Heidi(you)")
    await writer.type_at_end("Agenda for Monday")
    await writer.wait_saved()

    reader_token = issue_token(TEST_SECRET, "board", user="Ivan", read_only=True)
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    reader = Tab(context, await context.new_page(), "Ivan")
    await reader.page.goto(f"{base}?token={reader_token}")
    await reader.wait_text("Agenda for Monday")
    await expect(reader.save_status).to_have_text("Read-only")
    await expect(reader.page.locator(".cm-content")).to_have_attribute("contenteditable", "false")
    await expect(writer.page.locator("#people .person")).to_have_count(2)

    stranger = await browser.new_context()
    page = await stranger.new_page()
    await page.goto(f"{base}?token=not-a-token")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "denied")
    await expect(page.locator("#save-status")).to_have_text("Not saved — no access to this room")

    # The landing page lists the rooms the token grants.
    await page.goto(f"{secure_server.http}/?token={writer_token}")
    await expect(page.locator(".room", has_text="board")).to_contain_text("2 people here")
    await stranger.close()
    assert writer.errors == [] and reader.errors == []
