// One y-websocket client: handshake, send updates, hand received updates to a callback.
// Speaks plain y-protocols, or Hocuspocus's framing (document name before every message,
// an auth message first) for the Hocuspocus peer.
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { readVarUint } from './yupdate.js'

const MSG_SYNC = 0
const MSG_AWARENESS = 1
const MSG_AUTH = 2
const SYNC_STEP1 = 0
const SYNC_STEP2 = 1
const SYNC_UPDATE = 2

function noop () {}

export class SyncClient {
  /**
   * @param {{url: string, room: string, flavor: 'y'|'hocuspocus', name?: string, doc?: Y.Doc}} opts
   */
  constructor ({ url, room, flavor, name, doc }) {
    this.url = url
    this.room = room
    this.hocuspocus = flavor === 'hocuspocus'
    this.name = name || 'bench'
    this.doc = doc || new Y.Doc()
    this.ws = null
    this.synced = false
    this.closed = false
    /** (data, start, end, now) for every received update (sync update or step 2) */
    this.onUpdate = noop
    /** (data, start, end, now) for the step 2 answering our step 1 */
    this.onStep2 = noop
    if (this.hocuspocus) {
      const enc = encoding.createEncoder()
      encoding.writeVarString(enc, room)
      this.prefix = encoding.toUint8Array(enc)
    } else {
      this.prefix = new Uint8Array(0)
    }
  }

  /** Frame bytes for a Yjs update message (sync type 2). */
  updateFrame (update) {
    return this.frame(MSG_SYNC, SYNC_UPDATE, update)
  }

  frame (type, sub, payload) {
    const enc = encoding.createEncoder()
    encoding.writeUint8Array(enc, this.prefix)
    encoding.writeVarUint(enc, type)
    if (sub !== null) encoding.writeVarUint(enc, sub)
    encoding.writeVarUint8Array(enc, payload)
    return encoding.toUint8Array(enc)
  }

  awarenessFrame () {
    const enc = encoding.createEncoder()
    encoding.writeVarUint(enc, 1)
    encoding.writeVarUint(enc, this.doc.clientID)
    encoding.writeVarUint(enc, 1)
    encoding.writeVarString(enc, JSON.stringify({ user: { name: this.name } }))
    return this.frame(MSG_AWARENESS, null, encoding.toUint8Array(enc))
  }

  /** Open the socket and complete the sync handshake (our step 1 answered by a step 2). */
  connect (timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, { perMessageDeflate: false, maxPayload: 256 << 20 })
      this.ws = ws
      const timer = setTimeout(() => {
        reject(new Error(`handshake timeout ${this.url} ${this.room}`))
        ws.terminate()
      }, timeoutMs)
      this._resolve = () => { clearTimeout(timer); resolve() }
      ws.on('open', () => {
        if (this.hocuspocus) {
          const enc = encoding.createEncoder()
          encoding.writeUint8Array(enc, this.prefix)
          encoding.writeVarUint(enc, MSG_AUTH)
          encoding.writeVarUint(enc, 0) // token
          encoding.writeVarString(enc, '')
          ws.send(encoding.toUint8Array(enc))
        }
        ws.send(this.frame(MSG_SYNC, SYNC_STEP1, Y.encodeStateVector(this.doc)))
        ws.send(this.awarenessFrame())
      })
      ws.on('message', (data) => this._receive(data))
      ws.on('error', (err) => {
        if (!this.synced) { clearTimeout(timer); reject(err) }
      })
      ws.on('close', () => {
        this.closed = true
        if (!this.synced) { clearTimeout(timer); reject(new Error('closed before sync')) }
      })
    })
  }

  _receive (data) {
    const now = performance.now()
    let p = 0
    let v
    if (this.hocuspocus) {
      [v, p] = readVarUint(data, p)
      p += v
    }
    ;[v, p] = readVarUint(data, p)
    if (v !== MSG_SYNC) return // awareness, auth, Hocuspocus' sync status: not measured
    const [sub, p2] = readVarUint(data, p)
    const [len, start] = readVarUint(data, p2)
    const end = start + len
    if (sub === SYNC_UPDATE) {
      this.onUpdate(data, start, end, now)
    } else if (sub === SYNC_STEP2) {
      this.onUpdate(data, start, end, now)
      if (!this.synced) {
        this.synced = true
        this.onStep2(data, start, end, now)
        this._resolve()
      }
    } else if (sub === SYNC_STEP1) {
      const sv = data.subarray(start, end)
      this.ws.send(this.frame(MSG_SYNC, SYNC_STEP2, Y.encodeStateAsUpdate(this.doc, sv)))
    }
  }

  send (frame) {
    this.ws.send(frame)
  }

  close () {
    if (this.ws && !this.closed) this.ws.terminate()
    this.closed = true
  }
}

/** Connect `clients` with at most `concurrency` handshakes in flight; returns per-client ms. */
export async function connectAll (clients, concurrency) {
  const times = new Array(clients.length)
  let next = 0
  const failures = []
  async function worker () {
    while (next < clients.length) {
      const i = next++
      const t0 = performance.now()
      try {
        await clients[i].connect()
        times[i] = performance.now() - t0
      } catch (err) {
        failures.push(String(err && err.message ? err.message : err))
        times[i] = NaN
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, clients.length) }, worker))
  return { times, failures }
}

/**
 * Connect rooms' clients: first one client per room, then the rest. pycrdt-websocket
 * 0.16.5 leaves clients hanging when several join a cold room at once; opening each
 * room with one client first (as rooms fill in real use) lets every server take part.
 * `groups` is a list of client lists, one per room.
 */
export async function connectRooms (groups, concurrency) {
  const first = await connectAll(groups.map((g) => g[0]), concurrency)
  const rest = await connectAll(groups.flatMap((g) => g.slice(1)), concurrency)
  return { times: [...first.times, ...rest.times], failures: [...first.failures, ...rest.failures] }
}
