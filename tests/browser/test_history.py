"""The History panel: scrub to a past version (read-only), play, restore, name, tokens."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from tests.browser.tabs import TIMEOUT_MS, Tab, side_by_side
from tests.helpers.server import TEST_SECRET, ServerProcess
from web.auth import issue_token

ROOT = Path(__file__).resolve().parents[2]
WIDE = {"width": 1240, "height": 760}


class Api:
    """The room's HTTP API, as the test's own client."""

    def __init__(self, server: ServerProcess, room: str, token: str | None = None) -> None:
        self.base = f"{server.http}/api/rooms/{room}"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def get(self, path: str) -> httpx.Response:
        """GET a path under the room."""
        async with httpx.AsyncClient(headers=self.headers) as client:
            response = await client.get(self.base + path)
        response.raise_for_status()
        return response

    async def head(self) -> int:
        """The room's newest seq."""
        seq: int = (await self.get("")).json()["seq"]
        return seq

    async def text_at(self, seq: int | None = None) -> str:
        """The text after update `seq` (the head when None)."""
        return (await self.get("/content?format=text" + (f"&at={seq}" if seq else ""))).text

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST JSON."""
        async with httpx.AsyncClient(headers=self.headers) as client:
            response = await client.post(self.base + path, json=body)
        response.raise_for_status()
        return response.json()


async def version_text(page: Page) -> str:
    """The text of the read-only version view (without the highlight widgets)."""
    text: str = await page.evaluate("window.samepage.history.versionView.text")
    return text


async def settled(page: Page) -> None:
    """Two animation frames: CodeMirror has read any DOM input by then."""
    await page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )


async def open_history(tab: Tab, api: Api) -> int:
    """Open the panel with the button; wait until the slider covers every update."""
    head = await api.head()
    await tab.page.click("#history-button")
    await expect(tab.page.locator("#history")).to_be_visible()
    await expect(tab.page.locator("#history-slider")).to_be_enabled()
    await expect(tab.page.locator("#history")).to_have_attribute("data-seq", str(head))
    return head


async def scrub_to(page: Page, seq: int) -> int:
    """Drag-free scrubbing with the keyboard: Home (version 1), then → until version
    `seq` (the slider runs over the versions); returns once its text is shown."""
    slider = page.locator("#history-slider")
    await slider.focus()
    await page.keyboard.press("Home")
    for _ in range(seq - 1):
        await page.keyboard.press("ArrowRight")
    await expect(slider).to_have_value(str(seq))
    await until_shown(page, seq)
    return seq


async def until_shown(page: Page, seq: int) -> None:
    """Until the version view holds version `seq` (it comes from the server)."""
    banner = page.locator("#version-banner")
    await expect(banner).to_have_attribute("data-seq", str(seq))
    await expect(banner).to_have_attribute("data-shown-seq", str(seq))


async def test_scrub_shows_that_version_read_only(
    browser: Browser, server: ServerProcess, artifacts: Path
) -> None:
    """Scrubbing shows exactly the stored text of that version, read-only; typing there
    changes neither the view nor the live document; "Back to live" returns."""
    api = Api(server, "minutes")
    url = f"{server.http}/r/minutes"
    alice = await Tab.open(browser, url, "Alice", viewport=WIDE)
    await alice.type_at_end("# Team minutes\n\nWe met at ten.", delay_ms=5)
    await alice.wait_saved()
    await api.post("/versions", {"label": "First draft"})
    bob = await Tab.open(browser, url, "Bob")
    await bob.type_at_end("\n\n- Ship the beta on Friday", delay_ms=5)
    await bob.page.evaluate(
        """() => {
            const view = window.samepage.view
            const at = view.state.doc.toString().indexOf('ten.')
            view.dispatch({ changes: { from: at, to: at + 3, insert: 'eleven' } })
        }"""
    )
    await bob.wait_saved()
    await alice.wait_text("Ship the beta on Friday")
    live_before = await alice.text()

    head = await open_history(alice, api)
    page = alice.page
    await expect(page.locator(".entry-version")).to_contain_text("First draft")
    await expect(page.locator(".entry-session")).to_have_count(2)

    seq = await scrub_to(page, 9)
    expected = await api.text_at(seq)
    assert 0 < seq < head and expected
    assert await version_text(page) == expected
    banner = page.locator("#version-banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text(f"Viewing version {seq}")
    await expect(banner).to_contain_text("by Alice")
    await expect(page.locator(".live-editor")).to_be_hidden()
    shown = page.locator(".version-editor .cm-content")
    await expect(shown).to_be_visible()
    await expect(shown).to_have_attribute("contenteditable", "false")
    live = page.locator(".live-editor .cm-content")
    await expect(live).to_have_attribute("contenteditable", "false")  # locked as well
    await expect(page.locator(".cm-hist-added").first).to_be_visible()  # text added since

    # Typing into the past version changes nothing anywhere.
    await shown.click()
    await page.keyboard.type("LEAK")
    await page.keyboard.press("Backspace")
    await settled(page)
    assert await version_text(page) == expected
    assert await alice.text() == live_before
    await alice.wait_saved()
    assert await api.head() == head
    assert await api.text_at() == live_before

    # A session in the timeline jumps to its last version: Alice's first session ends
    # where the named version is.
    await page.locator(".entry-version", has_text="First draft").click()
    draft_seq = int(await banner.get_attribute("data-seq") or 0)
    await until_shown(page, draft_seq)
    assert (
        await version_text(page)
        == await api.text_at(draft_seq)
        == "# Team minutes\n\nWe met at ten."
    )
    await expect(page.locator(".entry-version[aria-current]")).to_have_count(1)
    await expect(page.locator(".cm-hist-removed")).to_have_text("ten")
    await expect(page.locator(".cm-hist-added").first).to_have_text("eleven")

    await expect(page.locator("#typing")).to_have_text("", timeout=6000)  # a calm picture
    shot = artifacts / "history.png"
    await page.screenshot(path=str(shot))
    if os.environ.get("SAMEPAGE_UPDATE_SCREENSHOT"):
        shutil.copyfile(shot, ROOT / "docs" / "history.png")
    # At phone width the panel is a sheet over the lower part of the page.
    await page.set_viewport_size({"width": 390, "height": 800})
    sheet = await page.locator("#history").bounding_box()
    assert sheet is not None and sheet["x"] == 0 and sheet["width"] == 390
    await expect(banner).to_be_in_viewport()
    await page.screenshot(path=str(artifacts / "history-phone.png"))
    await page.set_viewport_size({"width": WIDE["width"], "height": WIDE["height"]})

    # Edits made meanwhile extend the slider; the version on screen stays.
    await bob.type_at_end("!")
    await expect(page.locator("#history-position")).to_have_text(
        f"Version {draft_seq} of {head + 1}"
    )
    assert await version_text(page) == "# Team minutes\n\nWe met at ten."

    await page.click("#version-live")
    await expect(banner).to_be_hidden()
    await expect(page.locator(".live-editor")).to_be_visible()
    await expect(live).to_have_attribute("contenteditable", "true")
    await expect(page.locator(".entry-live")).to_have_attribute("aria-current", "true")
    assert alice.errors == [] and bob.errors == []


async def test_restore_reaches_other_tabs_and_the_server(
    browser: Browser, server: ServerProcess
) -> None:
    """Restore (after confirming) makes the text that version's, for every tab and the
    server, as one new entry in the history; Undo brings the previous text back."""
    api = Api(server, "restore")
    url = f"{server.http}/r/restore"
    alice = await Tab.open(browser, url, "Alice")
    await alice.type_at_end("Version one.", delay_ms=5)
    await alice.wait_saved()
    bob = await Tab.open(browser, url, "Bob")
    await bob.type_at_end(" Bob was here.", delay_ms=5)
    await bob.wait_saved()
    await alice.wait_text("Bob was here.")
    rows_before = len((await api.get("/history?limit=1000")).json())

    head = await open_history(alice, api)
    page = alice.page
    seq = await scrub_to(page, 5)
    target = await api.text_at(seq)
    assert target and "Version one.".startswith(target) and target != "Version one."
    assert seq < head

    await page.click("#history-restore")
    dialog = page.locator("#restore-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text(f"Restore version {seq}?")
    await page.click("#restore-confirm")

    await expect(page.locator("#version-banner")).to_be_hidden(timeout=TIMEOUT_MS)  # live
    await bob.page.wait_for_function(
        "t => window.samepage.ytext.toString() === t", arg=target, timeout=TIMEOUT_MS
    )
    await expect(bob.page.locator(".cm-content")).to_contain_text(target)
    await alice.page.wait_for_function(
        "t => window.samepage.ytext.toString() === t", arg=target, timeout=TIMEOUT_MS
    )
    assert await api.text_at() == target
    rows = (await api.get("/history?limit=1000")).json()
    assert len(rows) == rows_before + 1
    assert rows[0]["author"] == "Alice"  # the restore is Alice's edit
    await expect(page.locator("#history")).to_have_attribute("data-seq", str(head + 1))
    await expect(page.locator("#history-note")).to_contain_text(f"Restored version {seq}.")

    # Undo = restore the head before the restore.
    await page.locator("#history-note button", has_text="Undo").click()
    await bob.wait_text("Bob was here.")
    assert await api.text_at() == "Version one. Bob was here."
    assert alice.errors == [] and bob.errors == []


async def test_play_runs_to_the_head_and_stops(browser: Browser, server: ServerProcess) -> None:
    """`#history` opens the panel; Play replays from the first version to the head and
    pauses there, showing the head's text."""
    api = Api(server, "replay")
    writer = await Tab.open(browser, f"{server.http}/r/replay", "Alice")
    await writer.type_at_end("Replay me, one keystroke at a time.", delay_ms=5)
    await writer.wait_saved()
    head = await api.head()
    await writer.close()

    viewer = await Tab.open(browser, f"{server.http}/r/replay#history", "Zoe")
    page = viewer.page
    await expect(page.locator("#history")).to_be_visible()
    await expect(page.locator("#history")).to_have_attribute("data-seq", str(head))
    await page.select_option("#history-speed", "16")
    # Every value data-seq takes: the old value of each change, then the last one.
    await page.evaluate(
        """() => {
            const banner = document.querySelector('#version-banner')
            window.__olds = []
            new MutationObserver((records) => {
                for (const r of records) window.__olds.push(r.oldValue)
            }).observe(banner, { attributeFilter: ['data-seq'], attributeOldValue: true })
        }"""
    )
    await page.click("#history-play")
    play = page.locator("#history-play")
    # playback loads the stored updates as it goes: wait for the last one
    banner = page.locator("#version-banner")
    await expect(banner).to_have_attribute("data-seq", str(head), timeout=TIMEOUT_MS)
    slider = page.locator("#history-slider")
    await expect(slider).to_have_value(await slider.get_attribute("max") or "")
    await expect(play).not_to_have_attribute("data-playing", "true")
    await expect(play).to_have_attribute("aria-label", "Play")
    seen: list[int] = await page.evaluate(
        "[...window.__olds.slice(1), document.querySelector('#version-banner').dataset.seq]"
        ".map(Number)"
    )
    assert seen[0] == 1 and seen[-1] == head and len(seen) >= 2, seen
    assert seen == sorted(seen)
    assert await version_text(page) == await api.text_at(head)
    await expect(page.locator("#version-banner")).to_contain_text(f"Viewing version {head}")
    assert viewer.errors == []


async def test_read_only_token_browses_but_cannot_restore(
    browser: Browser, secure_server: ServerProcess
) -> None:
    """The API calls carry the token; a read-only token sees history, no Restore/Name;
    a write token names a version from the panel."""
    writer_token = issue_token(TEST_SECRET, "vault", user="Heidi")
    api = Api(secure_server, "vault", writer_token)
    writer = await Tab.open(browser, f"{secure_server.http}/r/vault?token={writer_token}", "x")
    await writer.type_at_end("Secret plans", delay_ms=5)
    await writer.wait_saved()
    head = await open_history(writer, api)
    await writer.page.click("#history-name")
    await writer.page.fill("#name-version-input", "Plans v1")
    await writer.page.press("#name-version-input", "Enter")
    await expect(writer.page.locator(".entry-version")).to_contain_text("Plans v1")
    assert [v["label"] for v in (await api.get("/versions")).json()] == ["Plans v1"]

    reader_token = issue_token(TEST_SECRET, "vault", user="Ivan", read_only=True)
    context = await browser.new_context(viewport=WIDE)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    reader = Tab(context, await context.new_page(), "Ivan")
    page = reader.page
    await page.goto(f"{secure_server.http}/r/vault?token={reader_token}#history")
    await expect(reader.save_status).to_have_text("Read-only")
    await expect(page.locator("#history")).to_have_attribute("data-seq", str(head))
    await expect(page.locator(".entry-session")).to_contain_text("Heidi")
    await expect(page.locator("#history-restore")).to_be_hidden()
    await expect(page.locator("#history-name")).to_be_hidden()
    seq = await scrub_to(page, 3)
    assert await version_text(page) == await api.text_at(seq)
    assert writer.errors == [] and reader.errors == []


async def test_restore_of_accented_text_and_emoji_in_every_tab(
    browser: Browser, server: ServerProcess, artifacts: Path
) -> None:
    """Alice types accented text (precomposed and e + U+0301) and an emoji with a skin
    tone, then more in other scripts; Bob, in a second tab, opens History and restores
    the version right after the emoji: both tabs and the server hold exactly that text."""
    api = Api(server, "unicode")
    url = f"{server.http}/r/unicode"
    alice = await Tab.open(browser, url, "Alice")
    bob = await Tab.open(browser, url, "Bob")
    first = "Crème brûlée, cafe\u0301 👍🏽 👨‍👩‍👧"
    await alice.type_at_end(first, delay_ms=5)
    await alice.wait_saved()
    await alice.type_at_end("\nnaïve 中文 שלום مرحبا 😀", delay_ms=5)
    await alice.wait_saved()
    await bob.wait_text("مرحبا 😀")
    head = await api.head()
    texts = {k: await api.text_at(k) for k in range(1, head + 1)}
    target_seq = max(k for k, text in texts.items() if text == first)

    await open_history(bob, api)
    page = bob.page
    await scrub_to(page, target_seq)
    assert await version_text(page) == first
    await page.click("#history-restore")
    await expect(page.locator("#restore-dialog")).to_be_visible()
    await page.click("#restore-confirm")
    await expect(page.locator("#version-banner")).to_be_hidden(timeout=TIMEOUT_MS)
    for tab in (alice, bob):
        await tab.page.wait_for_function(
            "t => window.samepage.ytext.toString() === t", arg=first, timeout=TIMEOUT_MS
        )
        # the editor (CodeMirror's document; its DOM also holds the other's caret label)
        await tab.page.wait_for_function(
            "t => window.samepage.view.state.doc.toString() === t", arg=first, timeout=TIMEOUT_MS
        )
    assert await api.text_at() == first
    await alice.wait_saved()
    await bob.wait_saved()
    assert await alice.text() == await bob.text() == await api.text_at() == first
    await expect(bob.page.locator("#typing")).to_have_text("", timeout=6000)
    await side_by_side(browser, [alice, bob], artifacts / "history-restore-unicode.png")
    assert alice.errors == [] and bob.errors == []
