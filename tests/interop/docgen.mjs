// Documents written by real Yjs, and how Yjs itself renders any sequence of updates.
// Speaks driver.mjs's JSON-lines protocol (one command per stdin line, one reply per
// stdout line), so tests/interop/node.py's NodeDriver runs it (script=DOCGEN).
//
//   generate {seed, steps, clients}  -> {types: {root: kind}, updates: [base64]}
//       random edits by several Y.Docs that sync now and then; every local transaction
//       is one update, in the order they happened (each depends only on earlier ones)
//   scripted {script}                 -> the same for a fixed list of edits (see SCRIPTS)
//   bulk {seed, count}                -> {updates}: count one-character edits of `content`
//   nasty {kind, url, room}           -> {types, sizes, text, json}: see NASTY
//   render {types, updates, every}   -> {versions: [{json, text, sv}]} after each update
//       (or only after the last one when every is false): the contract's JSON of every
//       root, the `content` text and the state vector (base64), as Yjs has them
//   typing {url, room, intervalMs, count} / latencies {stop}: two y-websocket clients in
//       one room, one typing a mark every intervalMs, the other timing its arrival
//
// Edits happen at code point boundaries (as an editor makes them): positions are drawn
// in code points and converted to the UTF-16 units Yjs counts.
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { serve } from './jsonlines.mjs'

const b64 = (bytes) => Buffer.from(bytes).toString('base64')
const unb64 = (text) => new Uint8Array(Buffer.from(text, 'base64'))

// mulberry32: a small seeded PRNG, so a seed replays the same document
const prng = (seed) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// Pieces of text people write: ASCII, precomposed and decomposed accents, combining
// marks, emoji with skin tones and ZWJ sequences, CJK, Hebrew, Arabic, newlines.
export const PIECES = [
  'a', 'b', 'Z', ' ', 'hello', 'é', 'e\u0301', 'ñ', 'ü', 'Å', '\u0301', '\u0308', 'ß',
  '👍', '👍🏽', '👨‍👩‍👧', '😀', '🇫🇷', '中', '文字', '한국어', 'שלום', 'עברית', 'مرحبا', 'عربي',
  '\n', '\n\n', '\t', 'Ω', '…', '„quote“', 'x😀y😀z'
]

const TYPES = {
  content: 'text', title: 'text', rich: 'text', notes: 'text',
  meta: 'map', settings: 'map',
  list: 'array', items: 'array',
  prose: 'xml', outline: 'xml'
}

const root = (doc, name) => {
  const kind = TYPES[name]
  if (kind === 'text') return doc.getText(name)
  if (kind === 'map') return doc.getMap(name)
  if (kind === 'array') return doc.getArray(name)
  return doc.getXmlFragment(name)
}

class Gen {
  constructor (seed) {
    this.rand = prng(seed)
  }

  int (n) { return Math.floor(this.rand() * n) }
  pick (list) { return list[this.int(list.length)] }
  chance (p) { return this.rand() < p }
  words (most = 5) {
    let out = ''
    for (let i = 1 + this.int(most); i > 0; i--) out += this.pick(PIECES)
    return out
  }

  json (depth = 0) {
    const kind = this.int(depth > 1 ? 4 : 6)
    if (kind === 0) return this.int(1000) - 500
    if (kind === 1) return this.words(3)
    if (kind === 2) return this.chance(0.5)
    if (kind === 3) return null
    if (kind === 4) return [this.json(depth + 1), this.json(depth + 1)]
    return { [this.words(1)]: this.json(depth + 1), k: this.json(depth + 1) }
  }
}

// Each position of a Y.Text as its UTF-16 length: code points of strings, 1 per embed.
const units = (ytext) => {
  const out = []
  for (const op of ytext.toDelta()) {
    if (typeof op.insert === 'string') for (const cp of op.insert) out.push(cp.length)
    else out.push(1)
  }
  return out
}
const utf16 = (lengths, cpIndex) => lengths.slice(0, cpIndex).reduce((a, b) => a + b, 0)

const ATTRS = [{ bold: true }, { italic: true }, { link: 'https://exämple.org/ü' }, { color: '#f00' }]

const editText = (g, text, rich) => {
  const lengths = units(text)
  const n = lengths.length
  const roll = g.int(10)
  if (n > 0 && roll < 3) {
    const from = g.int(n)
    const to = Math.min(n, from + 1 + g.int(6))
    text.delete(utf16(lengths, from), utf16(lengths, to) - utf16(lengths, from))
  } else if (rich && n > 0 && roll === 3) {
    const from = g.int(n)
    const to = Math.min(n, from + 1 + g.int(8))
    text.format(utf16(lengths, from), utf16(lengths, to) - utf16(lengths, from), g.pick(ATTRS))
  } else if (rich && roll === 4) {
    text.insertEmbed(utf16(lengths, g.int(n + 1)), { img: g.words(1) })
  } else {
    const at = utf16(lengths, g.int(n + 1))
    if (rich && g.chance(0.5)) text.insert(at, g.words(), g.pick(ATTRS))
    else text.insert(at, g.words())
  }
}

const nestedTexts = (value, out = []) => {
  if (value instanceof Y.Text) out.push(value)
  else if (value instanceof Y.Map) for (const v of value.values()) nestedTexts(v, out)
  else if (value instanceof Y.Array) for (const v of value.toArray()) nestedTexts(v, out)
  return out
}

const newShared = (g) => {
  const kind = g.int(3)
  if (kind === 0) return new Y.Text(g.words())
  if (kind === 1) {
    const map = new Y.Map()
    map.set('name', g.words(2))
    map.set('nested', new Y.Text(g.words(2)))
    return map
  }
  const array = new Y.Array()
  array.push([g.words(1), g.json(1)])
  return array
}

const editMap = (g, map) => {
  const keys = [...map.keys()]
  const roll = g.int(10)
  const texts = nestedTexts(map)
  if (keys.length > 0 && roll < 2) map.delete(g.pick(keys))
  else if (roll < 4 && texts.length > 0) editText(g, g.pick(texts), false)
  else if (roll < 6) map.set(g.chance(0.5) ? g.words(1) : `k${g.int(5)}`, newShared(g))
  else map.set(g.chance(0.5) ? g.words(1) : `k${g.int(5)}`, g.json())
}

const editArray = (g, array) => {
  const n = array.length
  const roll = g.int(10)
  const texts = nestedTexts(array)
  if (n > 0 && roll < 3) {
    const from = g.int(n)
    array.delete(from, Math.min(n - from, 1 + g.int(3)))
  } else if (roll < 5 && texts.length > 0) editText(g, g.pick(texts), false)
  else if (roll < 7) array.insert(g.int(n + 1), [newShared(g)])
  else array.insert(g.int(n + 1), g.chance(0.5) ? [g.words(1), g.words(1)] : [g.json()])
}

const xmlTexts = (node, out = []) => {
  for (const child of node.toArray()) {
    if (child instanceof Y.XmlText) out.push(child)
    else xmlTexts(child, out)
  }
  return out
}
const xmlElements = (node, out = []) => {
  for (const child of node.toArray()) {
    if (child instanceof Y.XmlElement) {
      out.push(child)
      xmlElements(child, out)
    }
  }
  return out
}

const editXml = (g, fragment) => {
  const roll = g.int(10)
  const texts = xmlTexts(fragment)
  const elements = xmlElements(fragment)
  if (roll < 4 && texts.length > 0) {
    const text = g.pick(texts)
    const lengths = units(text)
    const n = lengths.length
    if (n > 0 && g.chance(0.3)) {
      const from = g.int(n)
      const to = Math.min(n, from + 1 + g.int(4))
      text.delete(utf16(lengths, from), utf16(lengths, to) - utf16(lengths, from))
    } else if (n > 0 && g.chance(0.3)) {
      const from = g.int(n)
      const to = Math.min(n, from + 1 + g.int(4))
      text.format(utf16(lengths, from), utf16(lengths, to) - utf16(lengths, from), g.pick(ATTRS))
    } else text.insert(utf16(lengths, g.int(n + 1)), g.words(), g.chance(0.3) ? g.pick(ATTRS) : undefined)
  } else if (roll < 6 && elements.length > 0) {
    g.pick(elements).setAttribute(g.pick(['lang', 'class', 'data-ü']), g.words(1))
  } else if (roll < 7 && fragment.length > 0) {
    fragment.delete(g.int(fragment.length), 1)
  } else {
    const parent = elements.length > 0 && g.chance(0.4) ? g.pick(elements) : fragment
    const element = new Y.XmlElement(g.pick(['paragraph', 'heading', 'blockquote', 'li']))
    const text = new Y.XmlText()
    element.insert(0, [text])
    text.insert(0, g.words())
    if (g.chance(0.3)) element.setAttribute('level', String(1 + g.int(3)))
    parent.insert(g.int(parent.length + 1), [element])
  }
}

const edit = (g, doc, name) => {
  const kind = TYPES[name]
  const target = root(doc, name)
  if (kind === 'text') editText(g, target, name === 'rich')
  else if (kind === 'map') editMap(g, target)
  else if (kind === 'array') editArray(g, target)
  else editXml(g, target)
}

// Several Y.Docs editing; returns every local transaction's update in order.
// Client ids decide the order of concurrent inserts, so they come from the seed too.
const recorder = (count, rand = prng(0)) => {
  const updates = []
  const docs = []
  for (let i = 0; i < count; i++) {
    const doc = new Y.Doc()
    doc.clientID = 1 + Math.floor(rand() * 0x7fffffff)
    doc.on('update', (update, origin) => {
      if (origin === 'local') updates.push(update)
    })
    docs.push(doc)
  }
  const sync = (a, b) => {
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)), 'sync')
    Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)), 'sync')
  }
  return { updates, docs, sync }
}

const generate = ({ seed, steps = 40, clients = 2, roots }) => {
  const g = new Gen(seed)
  const { updates, docs, sync } = recorder(clients, g.rand)
  const names = roots ?? ['content', ...Object.keys(TYPES).filter((n) => n !== 'content' && g.chance(0.6))]
  while (updates.length < steps) {
    const doc = g.pick(docs)
    if (docs.length > 1 && g.chance(0.15)) sync(doc, g.pick(docs.filter((d) => d !== doc)))
    // the editor's text gets about half the edits
    const name = g.chance(0.5) ? 'content' : g.pick(names)
    doc.transact(() => edit(g, doc, name), 'local')
  }
  const types = {}
  for (const name of names) types[name] = TYPES[name]
  return { types, updates: updates.map(b64) }
}

// Fixed edits, e.g. an emoji edited exactly at its grapheme's boundaries.
const SCRIPTS = {
  grapheme: (doc) => {
    const text = doc.getText('content')
    const family = '👨‍👩‍👧' // 5 code points, 8 UTF-16 units, one grapheme
    return [
      () => text.insert(0, 'ab'),
      () => text.insert(1, family),
      () => text.insert(1 + family.length, '👍'),
      () => text.insert(1 + family.length + 2, '🏽'), // a skin tone joins the thumb
      () => text.insert(1, 'é'), // before the family, at its boundary
      () => text.delete(2, family.length), // the whole family at once
      () => text.insert(2, 'e\u0301\u0308'),
      () => text.delete(0, text.length)
    ]
  },
  // the report: typed in the browser, one character per update
  typed: (doc) => {
    const text = doc.getText('content')
    const steps = [...'héllo wörld'].map((ch, i) => () => text.insert(text.length, ch))
    return [...steps, () => text.insert(text.length, ' again')]
  }
}

const scripted = ({ script }) => {
  const { updates, docs } = recorder(1)
  for (const step of SCRIPTS[script](docs[0])) docs[0].transact(step, 'local')
  return { types: { content: 'text' }, updates: updates.map(b64) }
}

// ---- rendering: the contract's JSON for any root, as Yjs computes it -------------------

const plainDelta = (delta) => delta.every((op) => typeof op.insert === 'string' && !op.attributes)
const renderDelta = (delta) =>
  delta.map((op) => {
    const out = { insert: op.insert instanceof Y.AbstractType ? render(op.insert) : op.insert }
    if (op.attributes && Object.keys(op.attributes).length > 0) out.attributes = op.attributes
    return out
  })

const renderNode = (node) => {
  if (node instanceof Y.XmlText) {
    const delta = node.toDelta()
    const plain = delta.filter((op) => typeof op.insert === 'string').map((op) => op.insert).join('')
    return plainDelta(delta) ? { text: plain } : { text: plain, delta: renderDelta(delta) }
  }
  if (node instanceof Y.XmlElement) {
    return { nodeName: node.nodeName, attributes: node.getAttributes(), children: node.toArray().map(renderNode) }
  }
  return { xmlFragment: node.toArray().map(renderNode) }
}

const render = (value) => {
  if (value instanceof Y.XmlText || value instanceof Y.XmlElement) return renderNode(value)
  if (value instanceof Y.XmlFragment) return { xmlFragment: value.toArray().map(renderNode) }
  if (value instanceof Y.Text) {
    const delta = value.toDelta()
    return plainDelta(delta) ? delta.map((op) => op.insert).join('') : { delta: renderDelta(delta) }
  }
  if (value instanceof Y.Map) {
    const out = {}
    for (const [k, v] of value.entries()) out[k] = render(v)
    return out
  }
  if (value instanceof Y.Array) return value.toArray().map(render)
  if (value instanceof Uint8Array) return b64(value)
  return value
}

const snapshot = (doc, types) => {
  const json = {}
  for (const name of [...doc.share.keys()]) {
    const kind = types[name]
    if (kind === undefined) throw new Error(`root ${name} has no declared type`)
    json[name] = render(kind === 'text' ? doc.getText(name) : kind === 'map' ? doc.getMap(name)
      : kind === 'array' ? doc.getArray(name) : doc.getXmlFragment(name))
  }
  const text = doc.share.has('content') ? doc.getText('content').toString() : ''
  return { json, text, sv: b64(Y.encodeStateVector(doc)) }
}

const renderAll = ({ types, updates, every = true }) => {
  const doc = new Y.Doc()
  const versions = []
  updates.forEach((update, i) => {
    Y.applyUpdate(doc, unb64(update))
    if (every || i === updates.length - 1) versions.push(snapshot(doc, types))
  })
  if (updates.length === 0) versions.push(snapshot(doc, types))
  return { versions }
}

// ---- a latency probe in another room --------------------------------------------------

let probe = null

const typing = async ({ url, room, intervalMs = 20, count = 0 }) => {
  const open = () => {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket, disableBc: true })
    return { doc, provider }
  }
  const writer = open()
  const reader = open()
  const synced = (p) => new Promise((resolve) => (p.synced ? resolve() : p.once('sync', resolve)))
  await Promise.all([synced(writer.provider), synced(reader.provider)])
  const sent = new Map()
  const latencies = []
  const readerText = reader.doc.getText('content')
  readerText.observe((event) => {
    const now = performance.now()
    for (const op of event.changes.delta) {
      if (typeof op.insert !== 'string') continue
      for (const [, mark] of op.insert.matchAll(/<(\d+)>/g)) {
        const at = sent.get(mark)
        if (at !== undefined) {
          latencies.push([at.wall, now - at.t0])
          sent.delete(mark)
        }
      }
    }
  })
  const writerText = writer.doc.getText('content')
  let i = 0
  const timer = setInterval(() => {
    const mark = String(i++)
    sent.set(mark, { t0: performance.now(), wall: Date.now() })
    writerText.insert(writerText.length, `<${mark}>`)
    if (count && i >= count) clearInterval(timer)
  }, intervalMs)
  probe = { writer, reader, timer, latencies, sent, typed: () => i }
  return true
}

const latencies = ({ stop = false }) => {
  if (probe === null) throw new Error('no typing probe')
  if (stop) clearInterval(probe.timer)
  // latencies: [sent at (ms since the epoch), ms until the reader had it];
  // `pending`: typed but not seen by the reader yet
  return { latencies: probe.latencies, typed: probe.typed(), pending: probe.sent.size }
}

// `count` one-character updates typed as a person does: runs of 20 at a cursor that
// then jumps somewhere else; a quarter non-ASCII, all in the BMP (so any UTF-16 index
// is a code point boundary), every 200th a deletion.
const bulk = ({ seed, count }) => {
  const g = new Gen(seed)
  const { updates, docs } = recorder(1, g.rand)
  const text = docs[0].getText('content')
  const chars = ['a', 'b', 'c', ' ', 'é', 'ü', '中', 'ש', '\n', 'a', 'b', 'e']
  let cursor = 0
  for (let i = 0; i < count; i++) {
    if (i % 20 === 0) cursor = g.int(text.length + 1)
    docs[0].transact(() => {
      if (i % 200 === 199 && cursor > 0) text.delete(--cursor, 1)
      else text.insert(cursor++, g.pick(chars))
    }, 'local')
  }
  return { updates: updates.map(b64) }
}

// Valid but nasty documents (the hostile corpus of tests/web/test_hostile_live.py).
// Every one also has some `content` text; `types` is how Yjs reads each root, except
// for `confusion`, whose roots were written as different types by different clients.
const NASTY = {
  // maps in maps, 1000 deep
  deep: () => {
    const { updates, docs } = recorder(1, prng(1))
    const doc = docs[0]
    doc.transact(() => {
      doc.getText('content').insert(0, 'deep ↓')
      let map = doc.getMap('deep')
      for (let i = 0; i < 1000; i++) {
        const child = new Y.Map()
        map.set('c', child)
        child.set('level', i)
        map = child
      }
    }, 'local')
    doc.transact(() => doc.getText('content').insert(0, '⤵ '), 'local')
    return { types: { content: 'text', deep: 'map' }, updates }
  },
  // a million tiny items: one array element each (inserted at the front, so none merge),
  // in four updates of 2 MB
  million: () => {
    const { updates, docs } = recorder(1, prng(2))
    const doc = docs[0]
    const items = doc.getArray('items')
    doc.transact(() => doc.getText('content').insert(0, 'a million ✓'), 'local')
    for (let k = 0; k < 4; k++) {
      doc.transact(() => {
        for (let i = 0; i < 250000; i++) items.insert(0, [i % 7])
      }, 'local')
    }
    return { types: { content: 'text', items: 'array' }, updates }
  },
  // a 2 MB attribute, 5,000 attributes on one element, a 1 MB formatting attribute,
  // a 100 kB map key
  huge: () => {
    const { updates, docs } = recorder(1, prng(3))
    const doc = docs[0]
    doc.transact(() => {
      const text = doc.getText('content')
      text.insert(0, 'huge attributes: é 👍🏽')
      text.format(0, 4, { link: 'https://example.org/' + 'é'.repeat(500000) })
      const element = new Y.XmlElement('paragraph')
      doc.getXmlFragment('prose').insert(0, [element])
      element.setAttribute('data-big', 'ü'.repeat(1000000))
      for (let i = 0; i < 5000; i++) element.setAttribute(`a${i}`, `v${i}`)
      doc.getMap('meta').set('k'.repeat(100000), 'long key')
    }, 'local')
    return { types: { content: 'text', prose: 'xml', meta: 'map' }, updates }
  },
  // one root name written as Text, Map, Array and XmlFragment by four clients that
  // never saw each other's edits
  confusion: () => {
    const { updates, docs } = recorder(4, prng(4))
    const [a, b, c, d] = docs
    for (const name of ['content', 'shape']) {
      a.transact(() => a.getText(name).insert(0, `text of ${name} é👍🏽`), 'local')
      b.transact(() => b.getMap(name).set('key', `map of ${name}`), 'local')
      c.transact(() => c.getArray(name).push([1, 'two', { three: 3 }]), 'local')
      d.transact(() => d.getXmlFragment(name).insert(0, [new Y.XmlElement('p')]), 'local')
    }
    return { types: {}, updates }
  }
}

// -> {types, sizes, text, json}, after POSTing the updates to `url`'s room `room` in order
// (Node sends them: the million-item one is 12 MB). `text` is `content` as a Yjs client
// reads it (getText); `json` is Yjs's rendering (not for `million`: 1M numbers; not for
// `confusion`, whose roots have no one type).
// `ws`: a y-websocket client sends them (the server's ws:// URL) instead of POSTs.
// Apply `updates` to a y-websocket client's doc (each goes out as one sync update) and
// wait until the server has stored them all.
const sendOverWebSocket = async (ws, url, room, updates) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(ws, room, doc, { WebSocketPolyfill: WebSocket, disableBc: true })
  await new Promise((resolve) => (provider.synced ? resolve() : provider.once('sync', resolve)))
  const before = (await (await fetch(`${url}/api/rooms/${room}`)).json()).seq ?? 0
  for (const update of updates) Y.applyUpdate(doc, update)
  for (let waited = 0; ; waited += 100) {
    const info = await fetch(`${url}/api/rooms/${room}`)
    if (info.ok && (await info.json()).seq >= before + updates.length) break
    if (waited > 60000) throw new Error('the server did not store the updates within 60 s')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  provider.destroy()
}

// `prepare` makes a document ahead of `nasty` (a million items take seconds of CPU,
// which a latency test wants spent before it starts measuring).
let prepared = null
const prepare = ({ kind }) => {
  prepared = { kind, ...NASTY[kind]() }
  return { sizes: prepared.updates.map((u) => u.length) }
}

const nasty = async ({ kind, url, room, ws = null }) => {
  const { types, updates } = prepared?.kind === kind ? prepared : NASTY[kind]()
  if (ws !== null) {
    await sendOverWebSocket(ws, url, room, updates)
  } else {
    for (const update of updates) {
      const response = await fetch(`${url}/api/rooms/${room}/updates`, { method: 'POST', body: update })
      if (!response.ok) throw new Error(`POST ${kind}: ${response.status} ${await response.text()}`)
    }
  }
  const doc = new Y.Doc()
  for (const update of updates) Y.applyUpdate(doc, update)
  const text = doc.getText('content').toString()
  const json = kind === 'million' || kind === 'confusion' ? null : snapshot(doc, types).json
  return { types, sizes: updates.map((u) => u.length), text, json }
}

const handlers = { generate, scripted, bulk, nasty, prepare, render: renderAll, typing, latencies }

serve(handlers, () => {
  if (probe !== null) {
    probe.writer.provider.destroy()
    probe.reader.provider.destroy()
  }
})
