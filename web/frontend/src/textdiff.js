// A word-level diff of two texts (Myers' O(ND) algorithm on word/space/punctuation
// tokens), for highlighting what changed between a past version and the current one.
// The work is capped: past MAX_EDITS token edits the middle becomes one replacement.

const TOKEN = /[\p{L}\p{N}_]+|\s+|[^\p{L}\p{N}_\s]/gu
export const MAX_EDITS = 1500

/** Split into tokens; returns [tokens, start offsets (one extra: the end)]. */
export function tokenize (text) {
  const tokens = text.match(TOKEN) || []
  const starts = new Array(tokens.length + 1)
  let at = 0
  for (let i = 0; i < tokens.length; i++) {
    starts[i] = at
    at += tokens[i].length
  }
  starts[tokens.length] = at
  return [tokens, starts]
}

/** Matched token pairs [[i, j], ...] in order, or null when more than maxEdits apart. */
export function matches (a, b, maxEdits = MAX_EDITS) {
  const n = a.length
  const m = b.length
  const max = n + m
  const v = new Int32Array(2 * max + 3)
  const off = max + 1
  const trace = []
  let found = -1
  for (let d = 0; d <= Math.min(max, maxEdits); d++) {
    trace.push(v.slice(off - d, off + d + 1))
    for (let k = -d; k <= d; k += 2) {
      let x = (k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]))
        ? v[off + k + 1]
        : v[off + k - 1] + 1
      let y = x - k
      while (x < n && y < m && a[x] === b[y]) { x++; y++ }
      v[off + k] = x
      if (x >= n && y >= m) { found = d; break }
    }
    if (found >= 0) break
  }
  if (found < 0) return null
  const pairs = []
  let x = n
  let y = m
  for (let d = found; d >= 0; d--) {
    const prev = trace[d] // the furthest x per diagonal after step d - 1, index k + d
    const k = x - y
    let prevK = 0
    let prevX = 0
    let prevY = 0
    if (d > 0) {
      prevK = (k === -d || (k !== d && prev[k - 1 + d] < prev[k + 1 + d])) ? k + 1 : k - 1
      prevX = prev[prevK + d]
      prevY = prevX - prevK
    }
    while (x > prevX && y > prevY) { x--; y--; pairs.push([x, y]) }
    x = prevX
    y = prevY
  }
  return pairs.reverse()
}

/**
 * The changes from `before` to `after`:
 * [{from: [i1, i2], to: [j1, j2]}] — before[i1:i2] was replaced by after[j1:j2]
 * (one side may be empty), character offsets, in order.
 */
export function diffTexts (before, after, maxEdits = MAX_EDITS) {
  if (before === after) return []
  let start = 0
  const limit = Math.min(before.length, after.length)
  while (start < limit && before[start] === after[start]) start++
  let endB = before.length
  let endA = after.length
  while (endB > start && endA > start && before[endB - 1] === after[endA - 1]) { endB--; endA-- }
  // Widen the trimmed middle to word boundaries so a changed word is shown whole.
  const word = /[\p{L}\p{N}_]/u
  while (start > 0 && word.test(before[start - 1]) && word.test(before[start] || after[start] || ' ')) start--
  while (endB < before.length && endA < after.length && word.test(before[endB]) &&
    word.test(before[endB - 1] || after[endA - 1] || ' ')) { endB++; endA++ }
  const [ta, sa] = tokenize(before.slice(start, endB))
  const [tb, sb] = tokenize(after.slice(start, endA))
  const pairs = matches(ta, tb, maxEdits)
  if (pairs === null) return [{ from: [start, endB], to: [start, endA] }]
  const ops = []
  let i = 0
  let j = 0
  for (const [pi, pj] of [...pairs, [ta.length, tb.length]]) {
    if (pi > i || pj > j) {
      ops.push(narrow(before, after,
        { from: [start + sa[i], start + sa[pi]], to: [start + sb[j], start + sb[pj]] }))
    }
    i = pi + 1
    j = pj + 1
  }
  return ops
}

/** A replacement where one side extends the other ("he" → "here") is only the
 * extension: a word typed further is shown as added, not as removed and re-added. */
function narrow (before, after, op) {
  const { from: [i1, i2], to: [j1, j2] } = op
  const removed = before.slice(i1, i2)
  const added = after.slice(j1, j2)
  if (!removed || !added) return op
  if (added.startsWith(removed)) return { from: [i2, i2], to: [j1 + removed.length, j2] }
  if (added.endsWith(removed)) return { from: [i1, i1], to: [j1, j2 - removed.length] }
  if (removed.startsWith(added)) return { from: [i1 + added.length, i2], to: [j2, j2] }
  if (removed.endsWith(added)) return { from: [i1, i2 - added.length], to: [j1, j1] }
  return op
}
