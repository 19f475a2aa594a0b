"""The admin page in Chromium: reset and delete a room (a tab on it is told and loads
the new document), and the recent webhook deliveries."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import Browser, Dialog, expect

from tests.browser.tabs import Tab
from tests.helpers.receiver import Receiver
from tests.helpers.server import ServerProcess


async def test_admin_resets_and_deletes_a_room_and_shows_deliveries(
    browser: Browser, tmp_path: Path
) -> None:
    with (
        Receiver() as hook,
        ServerProcess(
            tmp_path / "db.sqlite", extra_args=["--webhook", hook.url], log_path=tmp_path / "log"
        ) as server,
    ):
        tab = await Tab.open(browser, f"{server.http}/r/doomed", "Alice")
        await tab.type_at_end("soon gone", delay_ms=5)
        await tab.wait_saved()

        context = await browser.new_context()
        admin = await context.new_page()
        questions: list[str] = []

        async def accept(dialog: Dialog) -> None:
            questions.append(dialog.message)
            await dialog.accept()

        admin.on("dialog", accept)
        await admin.goto(f"{server.http}/admin")
        await admin.fill("#room-name", "doomed")
        await admin.click("#room-reset")
        status = admin.locator("#room-status")
        await expect(status).to_contain_text("Reset doomed: epoch 1 began after seq")
        await expect(status).to_contain_text("(history kept)")
        assert questions == ["Reset room doomed (its history kept as an earlier epoch)?"]
        await expect(tab.page.locator(".reset-notice")).to_contain_text("This room was reset")
        await tab.wait_saved()
        assert await tab.text() == ""

        await admin.fill("#room-name", "doomed")
        await admin.click("#room-delete")
        await expect(status).to_contain_text("Deleted doomed: epoch 2")
        await expect(tab.page.locator(".reset-notice")).to_contain_text("This room was deleted")
        async with httpx.AsyncClient() as http:
            rooms = (await http.get(f"{server.http}/api/rooms")).json()
        assert "doomed" not in [r["name"] for r in rooms]

        await tab.wait_saved()
        await tab.type_at_end("again", delay_ms=5)  # the name used again: created again
        await tab.wait_saved()
        await expect(admin.locator("#hooks tr", has_text="room.created")).to_have_count(2)
        await admin.fill("#room-name", "../nope")
        await admin.click("#room-delete")  # the browser refuses the pattern: nothing sent
        assert len(questions) == 2

        # The deliveries the admin page lists: the reset and the delete among them.
        hooks = admin.locator("#hooks tr")
        await expect(admin.locator("#hooks tr", has_text="room.deleted")).to_have_count(1)
        await expect(admin.locator("#hooks tr", has_text="room.reset")).to_have_count(1)
        first = hooks.filter(has_text="room.reset")
        await expect(first).to_have_attribute("data-outcome", "delivered")
        await expect(admin.locator("#hooks-status")).to_contain_text(hook.url)
        assert {e["type"] for e in hook.events(room="doomed")} >= {
            "room.created",
            "room.reset",
            "room.deleted",
            "presence.joined",
        }
        await context.close()
        assert tab.errors == []
