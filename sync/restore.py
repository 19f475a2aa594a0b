"""Restoring a version as a new edit: make a live Doc equal a target Doc's content
with the smallest text edits (cursors elsewhere stay put); history is not rewritten."""

from __future__ import annotations

import difflib
from typing import Any

from pycrdt import Array, Doc, Map, Text

from sync.content import TEXT_ROOT, json_of


def edit_text(text: Text, target: str) -> None:
    """Make `text` read `target` with minimal insertions and deletions."""
    current = str(text)
    if current == target:
        return
    # Trim the common prefix and suffix, then diff only the middle.
    start = 0
    limit = min(len(current), len(target))
    while start < limit and current[start] == target[start]:
        start += 1
    end_c, end_t = len(current), len(target)
    while end_c > start and end_t > start and current[end_c - 1] == target[end_t - 1]:
        end_c -= 1
        end_t -= 1
    old, new = current[start:end_c], target[start:end_t]
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    # Apply from the end so earlier positions stay valid.
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if tag in ("replace", "delete"):
            del text[start + i1 : start + i2]
        if tag in ("replace", "insert"):
            text.insert(start + i1, new[j1:j2])


def restore_into(live: Doc[Any], target: Doc[Any]) -> None:
    """Change `live` (inside the caller's transaction) so its roots equal `target`'s."""
    edit_text(live.get(TEXT_ROOT, type=Text), str(target.get(TEXT_ROOT, type=Text)))
    wanted = json_of(target)
    have = json_of(live)
    for name in set(wanted) | set(have):
        if name == TEXT_ROOT or wanted.get(name) == have.get(name):
            continue
        value = wanted.get(name)
        if isinstance(value, dict) or (value is None and isinstance(have.get(name), dict)):
            root = live.get(name, type=Map)
            for key in list(root.keys()):
                if key not in (value or {}):
                    del root[key]
            for key, item in (value or {}).items():
                if root.get(key) != item:
                    root[key] = item
        elif isinstance(value, list) or isinstance(have.get(name), list):
            array = live.get(name, type=Array)
            array.clear()
            array.extend(list(value or []))
        elif isinstance(value, str) or isinstance(have.get(name), str):
            edit_text(live.get(name, type=Text), value or "")
