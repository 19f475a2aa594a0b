// Counting what a Yjs update contains without building Item objects.
//
// Servers may merge several updates into one frame (samepage does under load), so a
// delivery is counted per contained struct clock, not per frame. `scanUpdate` walks the
// v1 update encoding (the struct section; the delete set after it is ignored) and calls
// `visit(client, clock, length)` for every run of content (Items and GCs, not Skips).
// Content kinds whose length needs lib0's `any` decoder fall back to Y.decodeUpdate.
import * as Y from 'yjs'

let buf = null
let pos = 0
let runs = new Float64Array(3 * 1024)

function u () {
  let num = 0
  let mult = 1
  for (;;) {
    const r = buf[pos++]
    num += (r & 0x7f) * mult
    if (r < 0x80) return num
    mult *= 128
    if (mult > 2 ** 53) throw new Error('varuint overflow')
  }
}

function skipBytes () {
  const len = u()
  pos += len
}

/** UTF-16 code units of the UTF-8 string at [pos, pos + len) — what Yjs counts. */
function utf16Length (len) {
  let n = 0
  const end = pos + len
  for (let i = pos; i < end; i++) {
    const b = buf[i]
    if ((b & 0xc0) !== 0x80) n += b >= 0xf0 ? 2 : 1
  }
  return n
}

class NeedsFullDecode extends Error {}

function contentLength (kind) {
  switch (kind) {
    case 1: // ContentDeleted
      return u()
    case 2: { // ContentJSON
      const n = u()
      for (let i = 0; i < n; i++) skipBytes()
      return n
    }
    case 3: // ContentBinary
    case 5: // ContentEmbed
      skipBytes()
      return 1
    case 4: { // ContentString
      const len = u()
      const n = utf16Length(len)
      pos += len
      return n
    }
    case 6: // ContentFormat: key, value
      skipBytes()
      skipBytes()
      return 1
    case 7: { // ContentType
      const ref = u()
      if (ref === 3 || ref === 5) skipBytes() // XmlElement / XmlHook carry a name
      return 1
    }
    default: // 8 ContentAny, 9 ContentDoc: lib0 `any` encoding
      throw new NeedsFullDecode()
  }
}

/**
 * Visit every content run of the v1 update in `data[start, end)`.
 * @param {Uint8Array} data
 * @param {(client: number, clock: number, length: number) => void} visit
 */
export function scanUpdate (data, start, end, visit) {
  buf = data
  pos = start
  let n = 0
  try {
    const clients = u()
    for (let i = 0; i < clients; i++) {
      const structs = u()
      const client = u()
      let clock = u()
      for (let j = 0; j < structs; j++) {
        const info = buf[pos++]
        const kind = info & 31
        let len
        if (kind === 0) { // GC
          len = u()
        } else if (kind === 10) { // Skip: a gap, not content
          clock += u()
          continue
        } else {
          if (info & 128) { u(); u() } // origin
          if (info & 64) { u(); u() } // right origin
          if ((info & 192) === 0) {
            if (u() === 1) skipBytes() // parent by root name
            else { u(); u() } // parent by id
            if (info & 32) skipBytes() // parentSub
          }
          len = contentLength(kind)
        }
        // Collected first, visited after the walk: a fallback must not visit twice.
        if (n + 3 > runs.length) {
          const grown = new Float64Array(runs.length * 2)
          grown.set(runs)
          runs = grown
        }
        runs[n++] = client
        runs[n++] = clock
        runs[n++] = len
        clock += len
      }
      if (pos > end) throw new Error('struct section past the end of the update')
    }
  } catch (err) {
    if (!(err instanceof NeedsFullDecode)) throw err
    // Slow path for rare content kinds: let Yjs decode the whole update.
    buf = null
    const { structs } = Y.decodeUpdate(data.subarray(start, end))
    for (const s of structs) {
      if (s.constructor.name !== 'Skip') visit(s.id.client, s.id.clock, s.length)
    }
    return
  }
  buf = null
  for (let i = 0; i < n; i += 3) visit(runs[i], runs[i + 1], runs[i + 2])
}

/** Read a varuint at `p` in `data`; returns [value, next position]. */
export function readVarUint (data, p) {
  let num = 0
  let mult = 1
  for (;;) {
    const r = data[p++]
    num += (r & 0x7f) * mult
    if (r < 0x80) return [num, p]
    mult *= 128
  }
}
