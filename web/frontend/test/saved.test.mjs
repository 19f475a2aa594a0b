// SaveTracker: "Saved" only once the server's stored state covers everything local.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ObservableV2 } from 'lib0/observable'
import { SaveTracker, covers } from '../src/saved.js'

class FakeProvider extends ObservableV2 {
  constructor () {
    super()
    this.messageHandlers = []
    this.sent = []
    this.wsconnected = false
    this.ws = null
  }

  open () {
    this.ws = { OPEN: 1, readyState: 1, send: (data) => this.sent.push([...data]) }
    this.wsconnected = true
    this.emit('status', [{ status: 'connected' }])
  }

  drop () {
    this.ws = null
    this.wsconnected = false
    this.emit('status', [{ status: 'disconnected' }])
  }

  /** The server's `saved` message: seq + the state vector of `stored`. */
  saved (seq, stored) {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 101)
    encoding.writeVarUint(encoder, seq)
    encoding.writeVarUint8Array(encoder, Y.encodeStateVector(stored))
    const decoder = decoding.createDecoder(encoding.toUint8Array(encoder))
    decoding.readVarUint(decoder)
    this.messageHandlers[101](encoding.createEncoder(), decoder, this, true, 101)
  }
}

function setup () {
  const doc = new Y.Doc()
  const server = new Y.Doc()
  const provider = new FakeProvider()
  const states = []
  const tracker = new SaveTracker(doc, provider, (s) => states.push(s))
  return { doc, server, provider, tracker, states }
}

test('covers compares every local clock', () => {
  assert.equal(covers(new Map([[1, 5], [2, 3]]), new Map([[1, 5]])), true)
  assert.equal(covers(new Map([[1, 4]]), new Map([[1, 5]])), false)
  assert.equal(covers(new Map(), new Map([[7, 1]])), false)
})

test('subscribes on connect, saving until the stored state covers local edits', () => {
  const { doc, server, provider, tracker } = setup()
  assert.equal(tracker.state, 'offline')
  provider.open()
  assert.deepEqual(provider.sent, [[100, 1]])
  assert.equal(tracker.state, 'saving')
  provider.saved(0, server)
  assert.equal(tracker.state, 'saved')

  doc.getText('content').insert(0, 'hello')
  assert.equal(tracker.state, 'saving')
  provider.saved(0, server) // a commit of someone else's: ours is not in it
  assert.equal(tracker.state, 'saving')
  Y.applyUpdate(server, Y.encodeStateAsUpdate(doc))
  provider.saved(1, server)
  assert.equal(tracker.state, 'saved')
})

test('a delete-only change is saved only after a newer commit', () => {
  const { doc, server, provider, tracker } = setup()
  provider.open()
  doc.getText('content').insert(0, 'hello')
  Y.applyUpdate(server, Y.encodeStateAsUpdate(doc))
  provider.saved(1, server)
  assert.equal(tracker.state, 'saved')
  doc.getText('content').delete(0, 2) // the state vector does not move
  assert.equal(tracker.state, 'saving')
  provider.saved(1, server)
  assert.equal(tracker.state, 'saving')
  provider.saved(2, server)
  assert.equal(tracker.state, 'saved')
})

test('offline while disconnected; a new connection must confirm again', () => {
  const { doc, server, provider, tracker, states } = setup()
  provider.open()
  provider.saved(0, server)
  provider.drop()
  assert.equal(tracker.state, 'offline')
  doc.getText('content').insert(0, 'on the train')
  provider.open()
  assert.equal(tracker.state, 'saving')
  provider.saved(0, server)
  assert.equal(tracker.state, 'saving')
  Y.applyUpdate(server, Y.encodeStateAsUpdate(doc))
  provider.saved(1, server)
  assert.equal(tracker.state, 'saved')
  assert.deepEqual(states, ['offline', 'saving', 'saved', 'offline', 'saving', 'saved'])
})

test('remote changes already stored do not make us "saving"', () => {
  const { doc, server, provider, tracker } = setup()
  provider.open()
  server.getText('content').insert(0, 'from someone else')
  provider.saved(1, server)
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(server), provider)
  assert.equal(tracker.state, 'saved')
})
