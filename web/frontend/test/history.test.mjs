// The History panel's pure parts: the replay engine and the timeline.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { Replay, SNAPSHOT_EVERY, fromBase64 } from '../src/replay.js'
import { timelineEntries, entryHolds, editsLabel, formatWhen, bannerText, stepDelay } from '../src/timeline.js'

/** A doc edited N times; returns the steps (one update each) and the text after each. */
function history (n) {
  const doc = new Y.Doc()
  const text = doc.getText('content')
  const steps = []
  const texts = []
  doc.on('update', (update) => {
    steps.push({ seq: steps.length + 1, time: new Date(1e12 + steps.length * 1000).toISOString(), author: 'A', update })
  })
  for (let i = 0; i < n; i++) {
    if (i % 7 === 6) text.delete(0, 1)
    else text.insert(text.length === 0 ? 0 : (i * 13) % text.length, String.fromCharCode(97 + (i % 26)))
    texts.push(text.toString())
  }
  return { doc, steps, texts }
}

test('seek forward, backward and across snapshots gives the text after each step', () => {
  const { steps, texts } = history(SNAPSHOT_EVERY * 2 + 37)
  const replay = new Replay()
  replay.append(steps)
  for (const index of [5, 0, 430, 3, 199, 200, 201, steps.length - 1, 12, 398, 399]) {
    assert.equal(replay.textAt(index), texts[index], `index ${index}`)
  }
  assert.ok(replay.snapshots.size >= 2)
  for (let i = steps.length - 1; i >= 0; i -= 17) assert.equal(replay.textAt(i), texts[i])
})

test('a gap in the log is bridged by a full state', () => {
  const { doc, steps, texts } = history(30)
  const replay = new Replay()
  // Steps 11..20 compacted away: step 21 arrives as the full state at 21.
  const at21 = new Y.Doc()
  for (const s of steps.slice(0, 21)) Y.applyUpdate(at21, s.update)
  assert.ok(Replay.needsFullState(10, 21))
  assert.ok(!Replay.needsFullState(21, 22))
  replay.append([...steps.slice(0, 10), { ...steps[20], update: Y.encodeStateAsUpdate(at21) }, ...steps.slice(21)])
  assert.equal(replay.indexOfSeq(15), 9)
  assert.equal(replay.textAt(replay.indexOfSeq(21)), texts[20])
  assert.equal(replay.textAt(replay.length - 1), doc.getText('content').toString())
})

test('append ignores steps it already has; base64 decodes', () => {
  const replay = new Replay()
  replay.append([{ seq: 1, update: new Uint8Array() }, { seq: 2, update: new Uint8Array() }])
  replay.append([{ seq: 2, update: new Uint8Array() }, { seq: 3, update: new Uint8Array() }])
  assert.deepEqual(replay.steps.map((s) => s.seq), [1, 2, 3])
  assert.equal(replay.lastSeq, 3)
  assert.deepEqual([...fromBase64('AAEC/w==')], [0, 1, 2, 255])
})

test('timeline: newest first, labels above the session they end', () => {
  const sessions = [
    { author: 'Bob', first_seq: 8, last_seq: 12, start: 't3', end: 't4', updates: 5 },
    { author: 'Alice', first_seq: 1, last_seq: 7, start: 't1', end: 't2', updates: 7 }
  ]
  const versions = [{ seq: 7, label: 'Draft', author: 'Alice', time: 't2' }]
  const entries = timelineEntries(sessions, versions)
  assert.deepEqual(entries.map((e) => [e.kind, e.seq]), [['session', 12], ['version', 7], ['session', 7]])
  assert.ok(entryHolds(entries[0], 9))
  assert.ok(!entryHolds(entries[1], 8))
  assert.equal(editsLabel(1), '1 edit')
  assert.equal(editsLabel(3), '3 edits')
})

test('times read like a person says them', () => {
  const now = new Date(2026, 10, 25, 21, 30)
  assert.equal(formatWhen(new Date(2026, 10, 25, 21, 3).toISOString(), now, 'en-GB'), 'Today 21:03')
  assert.equal(formatWhen(new Date(2026, 10, 24, 9, 15).toISOString(), now, 'en-GB'), 'Yesterday 09:15')
  assert.equal(formatWhen(new Date(2026, 10, 2, 8, 0).toISOString(), now, 'en-GB'), '2 Nov 08:00')
  assert.equal(formatWhen(new Date(2025, 10, 2, 8, 0).toISOString(), now, 'en-GB'), '2 Nov 2025 08:00')
  const step = { seq: 42, time: new Date(2026, 10, 25, 21, 3).toISOString(), author: 'Alice' }
  assert.equal(bannerText(step, now, 'en-GB'), 'Viewing version 42 — Today 21:03 by Alice')
})

test('playback delays: real time capped and sped up, or uniform', () => {
  const steps = [0, 200, 60000].map((ms, i) => ({ seq: i + 1, time: new Date(1e12 + ms).toISOString() }))
  assert.equal(stepDelay(steps, 0, 1, 1, 3), 200)
  assert.equal(stepDelay(steps, 0, 1, 4, 3), 50)
  assert.equal(stepDelay(steps, 1, 2, 1, 3), 1500) // a minute's pause is not replayed
  assert.equal(stepDelay(steps, 1, 2, 16, 3), 1500 / 16)
  assert.equal(stepDelay(steps, 0, 1, 'uniform', 10000), 20)
  assert.equal(stepDelay(steps, 0, 1, 'uniform', 3), 250)
})
