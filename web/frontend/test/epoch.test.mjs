// Room epochs in the page: the stored epoch, the IndexedDB name per epoch, the handshake
// parameter, the epoch message and the 4410 reason.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

const store = new Map()
globalThis.localStorage = {
  getItem: (k) => (store.has(k) ? store.get(k) : null),
  setItem: (k, v) => store.set(k, String(v)),
  removeItem: (k) => store.delete(k)
}
const { epochFromReason, epochParam, followEpoch, localName, storedEpoch } = await import('../src/epoch.js')

test('a copy of epoch 0 keeps the database name pages always used', () => {
  assert.equal(localName('notes', 0), 'samepage:notes')
  assert.equal(localName('notes', null), 'samepage:notes')
  assert.equal(localName('notes', 3), 'samepage:notes@3')
})

test('the handshake names the stored epoch, or asks for it', () => {
  store.clear()
  assert.equal(storedEpoch('r'), null)
  assert.equal(epochParam('r'), '')
  const handlers = []
  followEpoch({ messageHandlers: handlers }, 'r')
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 2)
  handlers[104](null, decoding.createDecoder(encoding.toUint8Array(encoder)))
  assert.equal(storedEpoch('r'), 2)
  assert.equal(epochParam('r'), '2')
  store.set('samepage:epoch:r', 'garbage')
  assert.equal(storedEpoch('r'), null)
})

test('the new epoch comes from the close reason', () => {
  assert.equal(epochFromReason('room reset: epoch 4'), 4)
  assert.equal(epochFromReason('room delete: epoch 12'), 12)
  assert.equal(epochFromReason('room reset'), null)
  assert.equal(epochFromReason(), null)
})
