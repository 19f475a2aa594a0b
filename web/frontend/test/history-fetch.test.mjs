// The History panel's loading: the slider's coalesced version requests, and playback
// streaming the stored updates a page ahead.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { VersionFetch } from '../src/version-fetch.js'
import { Player } from '../src/player.js'

test('scrubbing asks for the first and the last position only, and keeps versions', async () => {
  const asked = []
  let release
  const api = {
    version: (seq) => {
      asked.push(seq)
      return new Promise((resolve) => { release = () => resolve({ seq, text: `v${seq}`, step: { seq } }) })
    }
  }
  const shown = []
  const fetch = new VersionFetch(api, { onVersion: (v) => shown.push(v.seq), onError: assert.fail })
  for (let seq = 1; seq <= 40; seq++) fetch.want(seq) // one drag across the slider
  release() // 1 answers: 40 is asked next, 2..39 never
  await new Promise((resolve) => setTimeout(resolve, 0))
  release()
  await new Promise((resolve) => setTimeout(resolve, 0))
  assert.deepEqual(asked, [1, 40])
  assert.deepEqual(shown, [40])
  fetch.want(1) // kept: shown at once, no request
  assert.deepEqual(shown, [40, 1])
  assert.deepEqual(asked, [1, 40])
})

test('play streams the updates from a version to the head, in order, then ends', async () => {
  const doc = new Y.Doc()
  const updates = []
  doc.on('update', (update) => updates.push(update))
  for (let i = 0; i < 30; i++) doc.getText('content').insert(i, String.fromCharCode(97 + i % 26))
  const texts = updates.map((_, i) => doc.getText('content').toString().slice(0, i + 1))
  const calls = []
  const api = {
    steps: async (after, upto, previous) => {
      calls.push([after, upto, previous])
      const steps = []
      for (let seq = after + 1; seq <= upto; seq++) {
        const state = new Y.Doc()
        for (const u of updates.slice(0, seq)) Y.applyUpdate(state, u)
        steps.push({ seq, time: null, author: 'A', update: previous === null && seq === after + 1 ? Y.encodeStateAsUpdate(state) : updates[seq - 1] })
      }
      return steps
    }
  }
  const seen = []
  await new Promise((resolve, reject) => {
    const player = new Player(api, { onStep: (step, text) => seen.push([step.seq, text]), onEnd: resolve, onError: reject })
    player.start(12, 30, () => 16)
  })
  const seqs = seen.map(([seq]) => seq) // fast steps may be passed over between frames
  assert.equal(seqs[0], 12)
  assert.equal(seqs.at(-1), 30)
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b))
  for (const [seq, text] of seen) assert.equal(text, texts[seq - 1])
  assert.deepEqual(calls[0], [11, 30, null])
})
