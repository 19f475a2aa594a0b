// "Saved" means the server has durably stored everything this tab wrote.
//
// samepage's extension (docs/PROTOCOL.md): after connecting we send `subscribe` (100) with
// flag 1; the server answers `saved` (101: varUint seq + varUint8Array state vector) at
// once and after every commit that stored updates of the room. We are saved when the
// stored state vector covers our own for every client id. A state vector only counts
// insertions, so a local change that only deletes is tracked separately: it is saved once
// a `saved` message with a newer seq arrives.
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

export const MESSAGE_SUBSCRIBE = 100
export const MESSAGE_SAVED = 101
export const FLAG_SAVED = 1

/** Does the stored state vector include every clock of the local one? */
export function covers (stored, local) {
  for (const [client, clock] of local) {
    if ((stored.get(client) || 0) < clock) return false
  }
  return true
}

const sameVector = (a, b) => a.size === b.size && covers(a, b)

/** Tracks the save state of one doc synced through one WebsocketProvider. */
export class SaveTracker {
  /**
   * @param {import('yjs').Doc} doc
   * @param {import('y-websocket').WebsocketProvider} provider
   * @param {(state: 'saved' | 'saving' | 'offline') => void} onChange
   * @param {{ flags?: number }} [opts] more subscribe flags (one subscribe sets them all)
   */
  constructor (doc, provider, onChange, { flags = 0 } = {}) {
    this.doc = doc
    this.flags = FLAG_SAVED | flags
    this.provider = provider
    this.onChange = onChange
    this.storedVector = null // null until this connection's first `saved`
    this.seq = -1 // last stored seq seen, across connections
    this.deleteBaseline = null // seq to exceed before a delete-only change counts as saved
    this.state = null
    this.closed = false // permanently refused (e.g. no access)

    provider.messageHandlers[MESSAGE_SAVED] = (_encoder, decoder) => {
      const seq = decoding.readVarUint(decoder)
      const vector = Y.decodeStateVector(decoding.readVarUint8Array(decoder))
      this.onSaved(seq, vector)
    }
    provider.on('status', ({ status }) => {
      if (status === 'connected') this.subscribe()
      else this.storedVector = null
      this.update()
    })
    provider.on('closed', () => { this.closed = true; this.update() })
    doc.on('afterTransaction', (tr) => this.onTransaction(tr))
    doc.on('update', () => this.update())
    if (provider.wsconnected) this.subscribe()
    this.update()
  }

  /** Ask the server for `saved` notifications on the current socket. */
  subscribe () {
    const ws = this.provider.ws
    if (!ws || ws.readyState !== ws.OPEN) return
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MESSAGE_SUBSCRIBE)
    encoding.writeVarUint(encoder, this.flags)
    ws.send(encoding.toUint8Array(encoder))
  }

  onSaved (seq, vector) {
    const first = this.storedVector === null
    this.storedVector = vector
    if (first && this.deleteBaseline !== null) {
      // A delete-only change made while offline reaches the server in our sync step 2,
      // which the server handles after this answer: wait for a commit after it.
      this.deleteBaseline = seq
    } else if (this.deleteBaseline !== null && seq > this.deleteBaseline) {
      this.deleteBaseline = null
    }
    this.seq = Math.max(this.seq, seq)
    this.update()
  }

  onTransaction (tr) {
    if (!tr.local || tr.deleteSet.clients.size === 0) return
    if (sameVector(tr.beforeState, tr.afterState)) {
      this.deleteBaseline = this.deleteBaseline === null ? this.seq : this.deleteBaseline
    }
  }

  /** Recompute and report the state when it changed. */
  update () {
    let state
    if (this.closed || !this.provider.wsconnected) state = 'offline'
    else if (this.storedVector === null || this.deleteBaseline !== null) state = 'saving'
    else state = covers(this.storedVector, Y.decodeStateVector(Y.encodeStateVector(this.doc)))
      ? 'saved'
      : 'saving'
    if (state !== this.state) {
      this.state = state
      this.onChange(state)
    }
  }
}
