// Scenario 6 (samepage only): a room with N stored updates, then the time to reconstruct
// random versions through `GET /api/rooms/{room}/content?at=SEQ`.
//
// HISTORY HOOK: the endpoint belongs to samepage's history API. A 404, or a 200 whose
// text does not have the length of version SEQ (the parameter ignored: the current
// document comes back), is reported as "not available" with the reason; once the API
// serves versions this scenario measures them with no change here.
import * as Y from 'yjs'
import { SyncClient } from './client.js'
import { scanUpdate } from './yupdate.js'
import { prng, quantile, sleep } from './stats.js'

async function roomSeq (base, room) {
  const res = await fetch(`${base}/api/rooms/${room}`)
  if (res.status !== 200) return 0
  const body = await res.json()
  return Number(body.seq || 0)
}

async function seed (cfg, room, emit) {
  const doc = new Y.Doc()
  const text = doc.getText('content')
  const client = new SyncClient({ url: cfg.urlFor(room), room, flavor: cfg.flavor, doc })
  const me = doc.clientID
  let acked = 0 // samepage echoes an update to its sender once it is committed
  client.onUpdate = (data, start, end) => {
    scanUpdate(data, start, end, (c, clock, len) => {
      if (c === me && clock + len > acked) acked = clock + len
    })
  }
  await client.connect()
  const frames = []
  doc.on('update', (u) => frames.push(client.updateFrame(u)))
  const rand = prng(99)
  const t0 = performance.now()
  let sent = 0
  const deadline = t0 + cfg.seedTimeoutS * 1000
  while (sent < cfg.updates) {
    if (performance.now() > deadline) break
    if (sent - acked >= cfg.window) { await sleep(1); continue }
    const n = Math.min(cfg.window - (sent - acked), cfg.updates - sent, 200)
    for (let i = 0; i < n; i++) text.insert(Math.floor(rand() * (text.length + 1)), 'x')
    for (const f of frames) client.send(f)
    frames.length = 0
    sent += n
    if (sent % 20000 < n) emit({ event: 'log', msg: `seeded ${sent} updates` })
    await sleep(0)
  }
  while (acked < sent && performance.now() < deadline) await sleep(5)
  const seedMs = performance.now() - t0
  client.close()
  return { sent, acked, seedMs }
}

export async function runHistory (cfg, emit) {
  const room = `${cfg.roomPrefix}0`
  const base = cfg.httpBase
  const seq0 = await roomSeq(base, room)
  const seeded = await seed(cfg, room, emit)
  const seq1 = await roomSeq(base, room)
  const stored = seq1 - seq0
  emit({ event: 'log', msg: `stored ${stored} updates in ${(seeded.seedMs / 1000).toFixed(1)} s` })
  const rand = prng(5)
  const targets = [seq1, seq0 + 1]
  for (let i = 0; i < cfg.probes; i++) targets.push(seq0 + 1 + Math.floor(rand() * stored))
  const times = []
  let available = true
  let reason = null
  emit({ event: 'step_begin', rate: 0 })
  for (const at of targets) {
    const t0 = performance.now()
    const res = await fetch(`${base}/api/rooms/${room}/content?at=${at}&format=text`)
    const body = await res.text()
    const ms = performance.now() - t0
    if (res.status === 404) {
      available = false
      reason = `GET /api/rooms/{room}/content?at= answered 404`
      break
    }
    if (res.status !== 200) {
      available = false
      reason = `GET ?at=${at} answered ${res.status}: ${body.slice(0, 120)}`
      break
    }
    if (body.length !== at - seq0) {
      available = false
      reason = `?at=${at} returned ${body.length} characters, expected ${at - seq0} (at= not honoured)`
      break
    }
    times.push(ms)
  }
  emit({ event: 'step_end' })
  const r = (x) => (x === null ? null : Math.round(x * 10) / 10)
  return {
    updates: cfg.updates,
    stored,
    seedSeconds: r(seeded.seedMs / 1000),
    seedRate: Math.round(seeded.acked / (seeded.seedMs / 1000)),
    available,
    reason,
    versions: times.length,
    p50Ms: r(quantile(times, 0.5)),
    maxMs: times.length ? r(Math.max(...times)) : null
  }
}
