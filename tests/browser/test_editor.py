"""Two people in one room: text, presence, cursor labels, the typing indicator."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser.tabs import Tab, side_by_side
from tests.helpers.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]


async def test_two_tabs_coedit_presence_cursor_and_typing(
    browser: Browser, server: ServerProcess, artifacts: Path
) -> None:
    """Typing in A shows in B with A's name on its caret and "Alice is typing…"."""
    url = f"{server.http}/r/coedit"
    alice = await Tab.open(browser, url, "Alice")
    bob = await Tab.open(browser, url, "Bob")

    # Both presence bars show both people; the local one is marked.
    for tab, other in ((alice, bob), (bob, alice)):
        people = tab.page.locator("#people .person")
        await expect(people).to_have_count(2)
        await expect(tab.page.locator("#people .person-local")).to_contain_text(f"{tab.name}(you)")
        await expect(people.filter(has_text=other.name)).to_have_count(1)

    # Alice types on the first line: Bob sees the text, then Alice's label on line 1,
    # fully visible (opaque, not clipped by the scroller).
    await alice.type_at_end("# Plan for Friday")
    await bob.wait_text("# Plan for Friday")
    label = bob.page.locator(".cm-ySelectionInfo", has_text="Alice")
    await expect(label).to_be_visible()
    await expect(label).to_have_css("opacity", "1")
    box = await label.bounding_box()
    scroller = await bob.page.locator(".cm-scroller").bounding_box()
    assert box is not None and scroller is not None
    assert box["y"] >= scroller["y"], f"label clipped above the editor: {box} vs {scroller}"

    # While Alice types, Bob sees the typing indicator; it goes away after she stops.
    bob_typing = bob.page.locator("#typing")
    alice_typing = alice.page.locator("#typing")
    await alice.page.keyboard.type("\n\nBring the slides and the *demo build*.", delay=40)
    await expect(bob_typing).to_have_text("Alice is typing…")
    await expect(alice_typing).to_have_text("")  # never shown to the typist
    await expect(bob_typing).to_have_text("", timeout=6000)

    await bob.type_at_end("\n\nBob: I'll book the room for **10:00**.")
    await expect(alice_typing).to_have_text("Bob is typing…")
    stopped = time.monotonic()
    await expect(alice_typing).to_have_text("", timeout=6000)
    assert time.monotonic() - stopped < 5

    for tab in (alice, bob):
        await tab.wait_text("Bob: I'll book the room for **10:00**.")
        await tab.wait_saved()
    assert await alice.text() == await bob.text()

    # Alice starts a checklist; the picture shows her caret, label and typing in Bob's tab.
    await alice.type_at_end("\n\n- [ ] Rehearse the demo", delay_ms=30)
    await bob.wait_text("- [ ] Rehearse the demo")
    await expect(bob.page.locator(".cm-ySelectionInfo", has_text="Alice")).to_be_visible()
    shot = artifacts / "two-tabs.png"
    await side_by_side(browser, [alice, bob], shot)
    if os.environ.get("SAMEPAGE_UPDATE_SCREENSHOT"):
        shutil.copyfile(shot, ROOT / "docs" / "screenshot.png")
    assert alice.errors == [] and bob.errors == []


async def test_embed_page_has_no_chrome_and_syncs(browser: Browser, server: ServerProcess) -> None:
    """`/embed/{room}` is the same editor without the top bar; renames reach it."""
    page_tab = await Tab.open(browser, f"{server.http}/r/embedded", "Carol")
    embed = await Tab.open(browser, f"{server.http}/embed/embedded", "Dan")
    await expect(embed.page.locator(".topbar")).to_have_count(0)
    await page_tab.type_at_end("shown in an iframe")
    await embed.wait_text("shown in an iframe")
    await expect(embed.page.locator("#people .person")).to_have_count(2)
    await expect(embed.page.locator(".cm-ySelectionInfo")).to_have_text("Carol")

    # Renaming (click your own chip) updates the others' presence and caret label.
    await page_tab.page.locator("#people .person-local").click()
    await page_tab.page.fill("#name-input", "Carol K.")
    await page_tab.page.click("text=Save name")
    await expect(embed.page.locator(".cm-ySelectionInfo")).to_have_text("Carol K.")
    await expect(embed.page.locator("#people .person", has_text="CK")).to_have_count(1)
