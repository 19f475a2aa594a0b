"""The page when access changes under it (docs/security.md): an expired token says
"Session expired" and offers to reload."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.tabs import Tab
from tests.helpers.server import TEST_SECRET, ServerProcess
from web.auth import issue_token


async def test_an_expired_session_says_so_and_offers_to_reload(
    browser: Browser, secure_server: ServerProcess
) -> None:
    room = "short-visit"
    token = issue_token(TEST_SECRET, room, user="Mallory", ttl_s=4)
    tab = await Tab.open(browser, f"{secure_server.http}/r/{room}?token={token}", "Mallory")
    await tab.type_at_end("typed before the end")
    await tab.wait_saved()

    banner = tab.page.locator(".session-banner")
    await expect(banner).to_contain_text("Session expired")
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
