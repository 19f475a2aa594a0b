"""What a document has not integrated of an update: structs still waiting for a
dependency (an earlier clock of their client, an origin) and deletes of items it does
not hold yet. Yrs keeps them aside ("pending") and `Doc.get_update()` leaves them out,
so whatever encodes a document for keeps (a checkpoint) adds them back from here."""

from __future__ import annotations

from pycrdt import get_update

from storage.yupdate import SKIP, UpdateFormatError, decode_update

LIVE_SCAN = 16 * 1024  # see `unintegrated`: what a live room decodes at most
NOTHING = b"\x00\x00"  # an update without structs or deletes


def decode_state(state: bytes) -> dict[int, int]:
    """A v1 state vector as {client: clock} (ValueError when malformed)."""
    values: list[int] = []
    value = shift = 0
    for byte in state:
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            values.append(value)
            value = shift = 0
    if shift or not values or len(values) != 1 + 2 * values[0]:
        raise ValueError("malformed state vector")
    return {values[i]: values[i + 1] for i in range(1, len(values), 2)}


def unintegrated(update: bytes, state: bytes, scan_limit: int | None = None) -> bytes | None:
    """The part of `update` that a document with state vector `state` (its
    `get_state()` after applying it) has not integrated, as an update to keep with
    the document; None when it holds all of it. (~5 µs for an integrated update.)

    Deletes are checked by decoding the delete set (~1 µs a range). Past `scan_limit`
    bytes only structs are looked for: a big delete set is a client's whole state (a
    sync step 2), whose deletes all target items of that same state — items the
    document holds, or pending structs, which are found."""
    diff = get_update(update, state)  # structs past `state`, plus the whole delete set
    if diff == NOTHING:  # no struct past `state` and no delete: the common case, ~1 µs
        return None
    if scan_limit is not None and len(diff) > scan_limit:
        return diff if diff[:1] != b"\x00" else None  # a leading 0: no struct section
    have = decode_state(state)
    try:
        decoded = decode_update(diff)
    except UpdateFormatError:
        return diff  # cannot tell: keeping it too is harmless (applying is idempotent)
    for struct in decoded.structs:
        if struct.ref != SKIP and struct.clock + struct.length > have.get(struct.client, 0):
            return diff
    for client, clock, length in decoded.deletes:
        if clock + length > have.get(client, 0):
            return diff
    return None
