"""Order keys for a linked sequence (list labelling): each node gets an integer key
between its neighbours', so the document order of a text timeline's runs is a sort by
key instead of a walk along the links. Where two neighbours' keys touch, a window
around the new node is spread evenly again (amortized O(log n) nodes)."""

from __future__ import annotations

from array import array

NONE = -1  # no neighbour
KEY_MAX = 1 << 62
KEY_STEP = 1 << 32  # the gap left after a node appended at either end
RELABEL_GAP = 1 << 16  # the spacing a relabelled window gets at least


def key_between(left: int, right: int, keys: array[int]) -> int | None:
    """A key for a node between `left` and `right` (NONE at an end); None: no room."""
    low = keys[left] if left != NONE else 0
    high = keys[right] if right != NONE else KEY_MAX
    if right == NONE and high - low > 2 * KEY_STEP:
        return low + KEY_STEP
    if left == NONE and high - low > 2 * KEY_STEP:
        return high - KEY_STEP
    if high - low > 1:
        return (low + high) // 2
    return None


def relabel(
    node: int, lefts: array[int], rights: array[int], keys: array[int]
) -> list[tuple[int, int]]:
    """New (node, key) for a window around `node`, widened until its keys can be
    spread at least RELABEL_GAP apart between the window's outer neighbours."""
    first = last = node
    count = 1
    while True:
        for _ in range(count):  # widen the window on both sides
            if lefts[first] != NONE:
                first = lefts[first]
                count += 1
            if rights[last] != NONE:
                last = rights[last]
                count += 1
        low = keys[lefts[first]] if lefts[first] != NONE else 0
        high = keys[rights[last]] if rights[last] != NONE else KEY_MAX
        if (high - low) // (count + 1) >= RELABEL_GAP or (
            lefts[first] == NONE and rights[last] == NONE
        ):
            break
    step = (high - low) // (count + 1)
    placed, key = [], low
    while True:
        key += step
        placed.append((first, key))
        if first == last:
            return placed
        first = rights[first]
