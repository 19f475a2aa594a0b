"""A browser tab on the editor page, with condition-based waits (no fixed sleeps)."""

from __future__ import annotations

import base64
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

VIEWPORT = {"width": 760, "height": 560}
TIMEOUT_MS = 15_000


class Tab:
    """One user in their own browser context (own storage, own IndexedDB)."""

    def __init__(self, context: BrowserContext, page: Page, name: str) -> None:
        self.context = context
        self.page = page
        self.name = name
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    @classmethod
    async def open(
        cls, browser: Browser, url: str, name: str, viewport: dict[str, int] | None = None
    ) -> Tab:
        """A new context whose stored name is `name`, showing `url`, connected and saved."""
        context = await browser.new_context(viewport=viewport or VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(TIMEOUT_MS)
        await context.add_init_script(f"localStorage.setItem('samepage:name', {name!r})")
        page = await context.new_page()
        tab = cls(context, page, name)
        await page.goto(url)
        await tab.wait_saved()
        return tab

    @property
    def save_status(self) -> Locator:
        """The save status line."""
        return self.page.locator("#save-status")

    @property
    def connection(self) -> Locator:
        """The connection indicator."""
        return self.page.locator("#connection")

    async def wait_saved(self) -> None:
        """Connected, and the server stored everything this tab wrote."""
        await expect(self.connection).to_have_attribute("data-state", "connected")
        await expect(self.save_status).to_have_text("Saved")

    async def text(self) -> str:
        """The document as this tab's Yjs doc has it."""
        text: str = await self.page.evaluate("window.samepage.ytext.toString()")
        return text

    async def wait_text(self, fragment: str, timeout_ms: int = TIMEOUT_MS) -> None:
        """Until the doc contains `fragment` (and the editor shows it)."""
        await self.page.wait_for_function(
            "s => window.samepage && window.samepage.ytext.toString().includes(s)",
            arg=fragment,
            timeout=timeout_ms,
        )
        await expect(self.page.locator(".cm-content")).to_contain_text(fragment.strip())

    async def type_at_end(self, text: str, delay_ms: float = 10) -> None:
        """Click into the editor, go to the end and type like a person."""
        await self.page.locator(".cm-content").click()
        await self.page.keyboard.press("Control+End")
        await self.page.keyboard.type(text, delay=delay_ms)

    async def local_writes_stored(self) -> None:
        """Until IndexedDB committed every update written so far (a later readonly
        transaction on the same store completes only after the earlier writes)."""
        await self.page.evaluate(
            """() => new Promise((resolve, reject) => {
                const tx = window.samepage.local.db.transaction(['updates'], 'readonly')
                tx.oncomplete = resolve
                tx.onerror = reject
            })"""
        )

    async def close(self) -> None:
        """Close the context."""
        await self.context.close()


async def side_by_side(browser: Browser, tabs: list[Tab], path: Path) -> None:
    """Screenshot each tab and compose them side by side into one PNG (no PIL needed)."""
    shots = [base64.b64encode(await tab.page.screenshot()).decode() for tab in tabs]
    width = sum(VIEWPORT["width"] for _ in tabs) + 24 * (len(tabs) + 1)
    context = await browser.new_context(
        viewport={"width": width, "height": VIEWPORT["height"] + 48}
    )
    page = await context.new_page()
    images = "".join(f'<img src="data:image/png;base64,{shot}" alt="">' for shot in shots)
    await page.set_content(
        "<style>body{margin:0;padding:24px;background:#dfe3e8;display:flex;gap:24px}"
        "img{border-radius:10px;box-shadow:0 6px 24px rgb(0 0 0/.18)}</style>" + images
    )
    await page.wait_for_function("[...document.images].every(i => i.complete)")
    await page.screenshot(path=str(path))
    await context.close()
