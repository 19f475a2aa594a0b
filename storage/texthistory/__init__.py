"""Text history: the text of every version of a room without replaying its log.

`timeline` integrates the stored updates (YATA, as Yjs and Yrs do) into one sequence of
every character with the seq that inserted and deleted it; `units` holds those
characters, `order_keys` their document order; `cache` keeps the timelines of recently
read rooms up to date and saved. The update decoder they use is `storage.yupdate`
(shared with `storage.roots` and `storage.pending`)."""
