"""The page when access changes under it (docs/security.md): an expired token says
"Session expired" and offers to reload; a grant lowered to read-only makes the editor
read-only on the same socket (and a tab opened then starts read-only), and lifting it
makes it writable again; a write racing the downgrade is refused (4403, nothing stored)
and the page says "Read-only now"; a revoked token says "Access revoked"."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from tests.browser.tabs import TIMEOUT_MS, Tab
from tests.helpers.server import TEST_SECRET, ServerProcess
from tests.interop.test_revocation import grant, revoke
from web.auth import issue_token


async def test_an_expired_session_says_so_and_offers_to_reload(
    browser: Browser, secure_server: ServerProcess
) -> None:
    room = "short-visit"
    token = issue_token(TEST_SECRET, room, user="Mallory", ttl_s=10)  # a slow start fits
    tab = await Tab.open(browser, f"{secure_server.http}/r/{room}?token={token}", "Mallory")
    await tab.type_at_end("typed before the end")
    await tab.wait_saved()

    banner = tab.page.locator(".session-banner")
    await expect(banner).to_contain_text("Session expired", timeout=TIMEOUT_MS)
    await expect(tab.connection).to_have_attribute("data-state", "expired")
    await expect(tab.connection).to_contain_text("Session expired")
    await expect(tab.page.locator(".live-editor .cm-content")).to_have_attribute(
        "contenteditable", "false"
    )
    # y-websocket gave up (4401 is final): no reconnection behind the banner.
    assert await tab.page.evaluate("window.samepage.provider.shouldConnect") is False

    # Reload with a fresh token (what a host app does on reload): editing again.
    fresh = issue_token(TEST_SECRET, room, user="Mallory")
    await tab.page.evaluate(
        "t => history.replaceState(null, '', location.pathname + '?token=' + t)", fresh
    )
    await banner.locator("button", has_text="Reload").click()
    await tab.wait_saved()
    await tab.wait_text("typed before the end")
    await expect(tab.page.locator(".session-banner")).to_have_count(0)
    assert tab.errors == []


async def test_a_downgrade_turns_the_open_page_read_only_without_reconnecting(
    browser: Browser, secure_server: ServerProcess
) -> None:
    room = "lowered"
    token = issue_token(TEST_SECRET, room, user="Oscar")
    tab = await Tab.open(browser, f"{secure_server.http}/r/{room}?token={token}", "Oscar")
    await tab.type_at_end("drafted while allowed")
    await tab.wait_saved()
    await tab.page.evaluate("window.firstSocket = window.samepage.provider.ws")
    editor = tab.page.locator(".live-editor .cm-content")

    await grant(secure_server, "Oscar", room, "read")
    await expect(editor).to_have_attribute("contenteditable", "false")
    await expect(tab.save_status).to_have_text("Read-only")
    await expect(tab.connection).to_have_attribute("data-state", "connected")
    assert await tab.page.evaluate("window.firstSocket === window.samepage.provider.ws")
    # A tab opened now with the same write token starts read-only (the server's access
    # message on subscribe), whatever the token says.
    later = await browser.new_page()
    await later.goto(f"{secure_server.http}/r/{room}?token={token}")
    await expect(later.locator("#save-status")).to_have_text("Read-only")
    await expect(later.locator(".live-editor .cm-content")).to_have_attribute(
        "contenteditable", "false"
    )
    await later.close()

    await grant(secure_server, "Oscar", room, "write")
    await expect(editor).to_have_attribute("contenteditable", "true")
    await tab.type_at_end(" and again")
    await tab.wait_saved()
    assert await tab.page.evaluate("window.firstSocket === window.samepage.provider.ws")
    assert tab.errors == []


async def test_a_revoked_session_says_access_revoked(
    browser: Browser, secure_server: ServerProcess
) -> None:
    room = "revoked-page"
    token = issue_token(TEST_SECRET, room, user="Peggy")
    tab = await Tab.open(browser, f"{secure_server.http}/r/{room}?token={token}", "Peggy")
    await revoke(secure_server, {"user": "Peggy"})
    await expect(tab.page.locator(".session-banner")).to_contain_text("Access revoked")
    await expect(tab.connection).to_have_attribute("data-state", "revoked")
    await expect(tab.page.locator(".live-editor .cm-content")).to_have_attribute(
        "contenteditable", "false"
    )
    assert await tab.page.evaluate("window.samepage.provider.shouldConnect") is False
    assert tab.errors == []


async def test_a_write_that_races_a_downgrade_is_refused_and_the_page_says_so(
    browser: Browser, secure_server: ServerProcess
) -> None:
    room = "raced"
    token = issue_token(TEST_SECRET, room, user="Rita")
    tab = await Tab.open(browser, f"{secure_server.http}/r/{room}?token={token}", "Rita")
    # The race: the page has not heard of the downgrade yet when it writes (here it
    # never will: its handler of the access message is gone).
    await tab.page.evaluate("delete window.samepage.provider.messageHandlers[103]")
    await grant(secure_server, "Rita", room, "read")
    await tab.type_at_end("typed after the downgrade")
    banner = tab.page.locator(".session-banner")
    await expect(banner).to_contain_text("Read-only now", timeout=TIMEOUT_MS)
    await expect(tab.save_status).to_have_text("Read-only")
    await expect(tab.page.locator(".live-editor .cm-content")).to_have_attribute(
        "contenteditable", "false"
    )
    assert await tab.page.evaluate("window.samepage.provider.shouldConnect") is False
    async with httpx.AsyncClient(base_url=secure_server.http) as http:
        stored = await http.get(
            f"/api/rooms/{room}/content", headers={"Authorization": f"Bearer {token}"}
        )
    assert "typed after" not in stored.text  # nothing of the refused write was stored
