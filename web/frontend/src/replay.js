// Client-side replay of a room's stored updates: a scratch Y.Doc moved to any step, so
// the History panel can scrub and play without a request per step. The live document is
// never touched.
import * as Y from 'yjs'

export const SNAPSHOT_EVERY = 200 // a full state kept every N steps for fast backward seeks

/** Base64 → bytes. */
export function fromBase64 (text) {
  const raw = atob(text)
  const bytes = new Uint8Array(raw.length)
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i)
  return bytes
}

/**
 * The stored updates of one room, in seq order, and a doc positioned at one of them.
 * A step is {seq, time, author, update}; `update` may be a full state (used where the
 * log has a gap left by compaction: applying a later full state to an earlier doc gives
 * exactly that later state, because history only grows).
 */
export class Replay {
  constructor (root = 'content') {
    this.root = root
    this.steps = []
    this.snapshots = new Map() // step index → encoded state after that step
    this.doc = null
    this.position = -1 // the step the doc is at (-1: before the first)
  }

  get length () { return this.steps.length }

  get lastSeq () { return this.steps.length ? this.steps[this.steps.length - 1].seq : 0 }

  /** Add steps newer than every step so far. */
  append (steps) {
    for (const step of steps) {
      if (step.seq <= this.lastSeq) continue
      this.steps.push(step)
    }
  }

  /** Does step `seq` need the full state (the rows before it are missing)? */
  static needsFullState (previousSeq, seq) { return seq !== previousSeq + 1 }

  /** The index of the newest step with seq <= `seq` (0 when none). */
  indexOfSeq (seq) {
    let lo = 0
    let hi = this.steps.length - 1
    let found = 0
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (this.steps[mid].seq <= seq) { found = mid; lo = mid + 1 } else hi = mid - 1
    }
    return found
  }

  /** Move the scratch doc to step `index` and return its text. */
  textAt (index) {
    this.seek(index)
    return this.doc.getText(this.root).toString()
  }

  seek (index) {
    index = Math.max(-1, Math.min(index, this.steps.length - 1))
    let base = -1
    for (const at of this.snapshots.keys()) if (at <= index && at > base) base = at
    const behind = this.doc === null || index < this.position
    if (behind || base > this.position) {
      this.doc = new Y.Doc()
      if (base >= 0) Y.applyUpdate(this.doc, this.snapshots.get(base))
      this.position = base
    }
    while (this.position < index) {
      this.position++
      Y.applyUpdate(this.doc, this.steps[this.position].update)
      if ((this.position + 1) % SNAPSHOT_EVERY === 0 && !this.snapshots.has(this.position)) {
        this.snapshots.set(this.position, Y.encodeStateAsUpdate(this.doc))
      }
    }
  }
}
