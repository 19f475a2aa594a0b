"""The admin page's access actions and cluster view in Chromium (docs/security.md): the
revoke form closes a real y-websocket client's socket (4401) and lists the revocation;
the grant form lowers a user to read-only; the cluster view shows this node and the
rooms it holds."""

from __future__ import annotations

from playwright.async_api import Browser, Dialog, expect

from tests.helpers.server import TEST_SECRET, ServerProcess
from tests.interop.node import node_driver
from tests.interop.test_access import closed_with
from web.auth import issue_token

ADMIN = issue_token(TEST_SECRET, "*", user="root", admin=True)


async def test_revoke_and_grant_from_the_admin_page_and_the_node_view(
    browser: Browser, secure_server: ServerProcess
) -> None:
    async with node_driver() as driver:
        mallory = await driver.client(
            secure_server.ws,
            "board",
            name="mallory",
            params={"token": issue_token(TEST_SECRET, "board", user="mallory")},
        )
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        async def accept(dialog: Dialog) -> None:
            await dialog.accept()

        page.on("dialog", accept)
        await page.goto(f"{secure_server.http}/admin?token={ADMIN}")

        node = page.locator("#nodes tr")
        await expect(node).to_have_count(1)
        await expect(node).to_contain_text("(this node)")
        await expect(node).to_contain_text("board (1)")

        await page.select_option("#revoke-kind", "user")
        await page.fill("#revoke-value", "mallory")
        await page.click("#revoke-submit")
        await expect(page.locator("#access-status")).to_contain_text(
            "Revoked user mallory: 1 connection(s) closed on this node"
        )
        status = await closed_with(mallory, 4401)
        assert status["shouldConnect"] is False
        await expect(page.locator("#revocations")).to_contain_text("mallory")
        await expect(node).to_contain_text("board (0)")

        await page.fill("#grant-user", "bob")
        await page.fill("#grant-room", "board")
        await page.select_option("#grant-perm", "read")
        await page.click("#grant-submit")
        await expect(page.locator("#access-status")).to_contain_text(
            "bob in board is now read-only"
        )
        await expect(page.locator("#grants tr")).to_contain_text("read-only")

        await page.fill("#revoke-value", "bad room name")
        await page.select_option("#revoke-kind", "room")
        await page.click("#revoke-submit")
        await expect(page.locator("#access-status")).to_contain_text("Revoke failed")
        assert errors == []
