// HistoryApi.load against a fake server: paging, the token header, gaps bridged by the
// full state at the first row after them.
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

test('loads every page, sends the token, and bridges compaction gaps', async () => {
  const missing = new Set([3, 4, 5, 6000, 6001])
  const { doc, calls } = fakeServer(7000, missing)
  const api = new HistoryApi('', 'r x', 'tok')
  const replay = new Replay()
  const progress = []
  const result = await api.load(replay, (done, head) => progress.push([done, head]))
  assert.equal(result.head, 7000)
  assert.equal(replay.length, 7000 - missing.size)
  assert.deepEqual(progress, [[5000, 7000]])
  assert.ok(calls.every((c) => c.auth === 'Bearer tok'))
  const contents = calls.filter((c) => c.url.includes('/content')).map((c) => c.url)
  assert.deepEqual(contents.map((u) => new URL(u, 'http://x').searchParams.get('at')), ['6', '6002'])
  assert.equal(replay.textAt(replay.indexOfSeq(6)), doc.getText('content').toString().slice(0, 6))
  assert.equal(replay.textAt(replay.length - 1), doc.getText('content').toString())

  // A second load asks only for what is new.
  calls.length = 0
  await api.load(replay)
  assert.equal(calls.filter((c) => c.url.includes('/updates')).length, 0)
})

test('an error answer throws with the server detail', async () => {
  globalThis.fetch = async () => ({ ok: false, status: 403, json: async () => ({ detail: 'read-only token' }) })
  await assert.rejects(new HistoryApi('', 'r', null).restore(3), /read-only token/)
})
