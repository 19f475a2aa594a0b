// HistoryApi against a fake server: paging, the token header, the first step and gaps
// bridged by the full state at their seq, and the panel's overview without updates.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { HistoryApi } from '../src/history-api.js'
import { Replay } from '../src/replay.js'

const b64 = (bytes) => Buffer.from(bytes).toString('base64')

/** A room with `n` one-character updates; rows in `missing` were compacted away. */
function fakeServer (n, missing = new Set()) {
  const doc = new Y.Doc()
  const rows = []
  const states = []
  doc.on('update', (update) => rows.push({ seq: rows.length + 1, time: '2026-11-25T21:00:00Z', author: 'A', update }))
  for (let i = 0; i < n; i++) {
    doc.getText('content').insert(i, String.fromCharCode(97 + (i % 26)))
    states.push(Y.encodeStateAsUpdate(doc))
  }
  const calls = []
  globalThis.fetch = async (url, init) => {
    calls.push({ url, auth: init.headers.Authorization })
    const u = new URL(url, 'http://x')
    const json = (body) => ({ ok: true, json: async () => body })
    if (u.pathname === '/api/rooms/r%20x' || u.pathname === '/api/rooms/r x') return json({ seq: n })
    if (u.pathname.endsWith('/history')) return json([])
    if (u.pathname.endsWith('/versions')) return json([])
    if (u.pathname.endsWith('/updates')) {
      const after = Number(u.searchParams.get('after'))
      const upto = Number(u.searchParams.get('upto'))
      return json(rows.filter((r) => r.seq > after && r.seq <= upto && !missing.has(r.seq))
        .map((r) => ({ ...r, update: b64(r.update) })))
    }
    if (u.pathname.endsWith('/content')) {
      const at = Number(u.searchParams.get('at'))
      return { ok: true, arrayBuffer: async () => states[at - 1].slice().buffer }
    }
    return { ok: false, status: 404, json: async () => ({ detail: 'nope' }) }
  }
  return { doc, calls }
}

test('steps: pages of updates, the token, the first step and gaps as full states', async () => {
  const missing = new Set([3, 4, 5, 2500, 2501])
  const { doc, calls } = fakeServer(3000, missing)
  const api = new HistoryApi('', 'r x', 'tok')
  const replay = new Replay()
  replay.append(await api.steps(0, 3000))
  assert.equal(replay.length, 3000 - missing.size)
  assert.ok(calls.every((c) => c.auth === 'Bearer tok'))
  const at = (name) => calls.filter((c) => c.url.includes(name))
    .map((c) => new URL(c.url, 'http://x').searchParams)
  assert.deepEqual(at('/content').map((p) => p.get('at')), ['1', '6', '2502'])
  assert.deepEqual(at('/updates').map((p) => [p.get('after'), p.get('upto')]),
    [['0', '1000'], ['1000', '2000'], ['2000', '3000']])
  assert.equal(replay.textAt(replay.indexOfSeq(6)), doc.getText('content').toString().slice(0, 6))
  assert.equal(replay.textAt(replay.length - 1), doc.getText('content').toString())

  // Playback from version 2000: its state first, then each update after it.
  calls.length = 0
  const later = new Replay()
  later.append(await api.steps(1999, 2010))
  assert.deepEqual(at('/content').map((p) => p.get('at')), ['2000'])
  assert.equal(later.textAt(0), doc.getText('content').toString().slice(0, 2000))
  assert.equal(later.textAt(later.length - 1), doc.getText('content').toString().slice(0, 2010))
})

test('overview asks for no update; version reads one text and its author', async () => {
  const { calls } = fakeServer(10)
  const api = new HistoryApi('', 'r x', null)
  const { head } = await api.overview()
  assert.equal(head, 10)
  assert.equal(calls.filter((c) => c.url.includes('/updates')).length, 0)
  globalThis.fetch = async (url) => {
    const u = new URL(url, 'http://x')
    if (u.pathname.endsWith('/content')) return { ok: true, text: async () => `text ${u.searchParams.get('at')}` }
    return { ok: true, json: async () => [{ seq: 7, time: '2026-11-25T21:00:00Z', author: 'Zoë' }] }
  }
  const version = await api.version(7)
  assert.deepEqual(version, { seq: 7, text: 'text 7', step: { seq: 7, time: '2026-11-25T21:00:00Z', author: 'Zoë' } })
})

test('an error answer throws with the server detail', async () => {
  globalThis.fetch = async () => ({ ok: false, status: 403, json: async () => ({ detail: 'read-only token' }) })
  await assert.rejects(new HistoryApi('', 'r', null).restore(3), /read-only token/)
})
