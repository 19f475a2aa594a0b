""" "Saved" means stored: hold back the server's `saved` messages and the page must wait."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Browser, WebSocketRoute, expect

from tests.browser.tabs import Tab
from tests.helpers.server import ServerProcess

SAVED = 101


class SavedGate:
    """Relays the page's WebSocket, holding back `saved` frames while closed."""

    def __init__(self) -> None:
        self.open = True
        self.held: list[bytes] = []
        self.page_side: WebSocketRoute | None = None

    def route(self, ws: WebSocketRoute) -> None:
        """Playwright's WebSocket route handler."""
        self.page_side = ws
        server = ws.connect_to_server()
        server.on_message(self._from_server)

    def _from_server(self, message: str | bytes) -> None:
        assert self.page_side is not None
        if isinstance(message, bytes) and message[:1] == bytes([SAVED]) and not self.open:
            self.held.append(message)
        else:
            self.page_side.send(message)

    async def wait_held(self, timeout: float = 10.0) -> None:
        """Until at least one `saved` frame is being held back."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.held:
            assert asyncio.get_running_loop().time() < deadline, "no saved message from server"
            await asyncio.sleep(0.02)

    def release(self) -> None:
        """Deliver the held frames in order and stop holding."""
        assert self.page_side is not None
        self.open = True
        for message in self.held:
            self.page_side.send(message)
        self.held.clear()


async def test_saved_only_after_the_server_confirms(
    browser: Browser, server: ServerProcess
) -> None:
    """Typed text reaches the other tab, but "Saved" waits for the `saved` message."""
    url = f"{server.http}/r/confirm"
    bob = await Tab.open(browser, url, "Bob")
    gate = SavedGate()
    context = await browser.new_context()
    context.set_default_timeout(15_000)
    # the page names its epoch in the URL (`?epoch=`): match the room with any query
    await context.route_web_socket(
        re.compile(re.escape(f"{server.ws}/confirm") + r"(\?.*)?$"), gate.route
    )
    await context.add_init_script("localStorage.setItem('samepage:name', 'Alice')")
    page = await context.new_page()
    alice = Tab(context, page, "Alice")
    await page.goto(url)
    await alice.wait_saved()

    gate.open = False
    await alice.type_at_end("not confirmed yet")
    await bob.wait_text("not confirmed yet")  # the server has it, but did not say so
    await expect(alice.save_status).to_have_text("Saving…")
    await gate.wait_held()  # the server did confirm: the page just has not heard yet
    gate.release()
    await expect(alice.save_status).to_have_text("Saved")

    # A change that only deletes does not move the state vector: still wait for a commit.
    gate.open = False
    await page.keyboard.press("Backspace")
    await bob.page.wait_for_function(
        "() => window.samepage.ytext.toString() === 'not confirmed ye'"
    )
    await expect(alice.save_status).to_have_text("Saving…")
    gate.release()
    await expect(alice.save_status).to_have_text("Saved")
