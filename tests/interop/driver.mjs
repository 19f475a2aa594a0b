// A long-running Node process hosting real Yjs + y-websocket clients, driven by the
// Python tests over JSON lines: one command per stdin line, one reply per stdout line.
//
//   -> {"id": 1, "op": "open", "client": "a", "url": "ws://127.0.0.1:P/ws", "room": "r"}
//   <- {"id": 1, "ok": true, "result": {"clientID": 123}}
//
// Every client has its own Y.Doc and WebsocketProvider (BroadcastChannel disabled, so
// clients in one process talk only through the server). Binary results (state vectors,
// updates) are base64. Errors come back as {"id": N, "ok": false, "error": "..."}.
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { serve } from './jsonlines.mjs'

const clients = new Map()

const b64 = (bytes) => Buffer.from(bytes).toString('base64')

const get = (name) => {
  const client = clients.get(name)
  if (client === undefined) throw new Error(`no client named ${name}`)
  return client
}

const clamp = (value, low, high) => Math.max(low, Math.min(high, value))

const waitFor = (predicate, timeoutMs, what) =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const poll = () => {
      if (predicate()) return resolve(true)
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out: ${what}`))
      setTimeout(poll, 10)
    }
    poll()
  })

const handlers = {
  open ({ client, url, room, params = {}, maxBackoffTime = 300 }) {
    if (clients.has(client)) throw new Error(`client ${client} exists`)
    const doc = new Y.Doc()
    const text = doc.getText('content')
    const provider = new WebsocketProvider(url, room, doc, {
      WebSocketPolyfill: WebSocket,
      disableBc: true,
      maxBackoffTime,
      params
    })
    const closes = []
    const closeTimes = [] // Date.now() of each close, to time the server's closes
    const reasons = []
    let opens = 0
    provider.on('connection-close', (event) => {
      if (event) {
        closes.push(event.code)
        closeTimes.push(Date.now())
        reasons.push(event.reason)
      }
    })
    provider.on('status', ({ status }) => { if (status === 'connected') opens++ })
    clients.set(client, { doc, text, provider, closes, closeTimes, reasons, opens: () => opens })
    return { clientID: doc.clientID }
  },
  async waitSynced ({ client, timeout = 10000 }) {
    const { provider } = get(client)
    await waitFor(() => provider.synced, timeout, `${client} synced`)
    return true
  },
  // `at` is a fraction of the current length (0..1), so callers need not know how
  // Yjs counts (UTF-16 code units); `index` is an absolute index, clamped.
  insert ({ client, index, at, content }) {
    const { doc, text } = get(client)
    const pos = at !== undefined ? Math.floor(at * text.length) : clamp(index, 0, text.length)
    doc.transact(() => text.insert(pos, content))
    return text.length
  },
  // `count` one-character inserts at the end, each its own transaction (= its own
  // y-websocket message), in one synchronous burst: a fast programmatic writer
  type ({ client, count, char = 'x' }) {
    const { text } = get(client)
    for (let i = 0; i < count; i++) text.insert(text.length, char)
    return text.length
  },
  delete ({ client, index, at, length }) {
    const { doc, text } = get(client)
    const pos = at !== undefined ? Math.floor(at * text.length) : clamp(index, 0, text.length)
    const count = clamp(length, 0, text.length - pos)
    if (count > 0) doc.transact(() => text.delete(pos, count))
    return text.length
  },
  mapSet ({ client, map, key, value }) {
    get(client).doc.getMap(map).set(key, value)
    return true
  },
  arrayPush ({ client, array, values }) {
    get(client).doc.getArray(array).push(values)
    return true
  },
  // every root type as Yjs itself renders it (roots must be typed first: `types`)
  json ({ client, types = {} }) {
    const { doc } = get(client)
    const out = {}
    for (const [name, kind] of Object.entries(types)) {
      const value = kind === 'map' ? doc.getMap(name) : kind === 'array' ? doc.getArray(name) : doc.getText(name)
      out[name] = value.toJSON()
    }
    return out
  },
  // block this whole process (no socket is read) for `ms`: a frozen tab, a slow device
  block ({ ms }) {
    const until = Date.now() + ms
    while (Date.now() < until) { /* busy */ }
    return true
  },
  text ({ client }) {
    return get(client).text.toString()
  },
  stateVector ({ client }) {
    return b64(Y.encodeStateVector(get(client).doc))
  },
  update ({ client }) {
    return b64(Y.encodeStateAsUpdate(get(client).doc))
  },
  setAwareness ({ client, state }) {
    get(client).provider.awareness.setLocalState(state)
    return true
  },
  awareness ({ client }) {
    const states = {}
    for (const [id, state] of get(client).provider.awareness.getStates()) states[id] = state
    return states
  },
  status ({ client }) {
    const { provider, closes, closeTimes, reasons, opens } = get(client)
    // shouldConnect turns false when y-websocket gives up (a 4400-4499 close)
    return {
      connected: provider.wsconnected,
      synced: provider.synced,
      shouldConnect: provider.shouldConnect,
      closes,
      closeTimes,
      reasons,
      opens: opens()
    }
  },
  disconnect ({ client }) {
    get(client).provider.disconnect()
    return true
  },
  connect ({ client }) {
    get(client).provider.connect()
    return true
  },
  close ({ client }) {
    const { doc, provider } = get(client)
    provider.destroy()
    doc.destroy()
    clients.delete(client)
    return true
  },
  exit () {
    for (const { provider } of clients.values()) provider.destroy()
    setImmediate(() => process.exit(0))
    return true
  }
}

serve(handlers)
