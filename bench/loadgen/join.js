// Scenario 4: a document of N single-character inserts at random positions; how long a
// new client takes to join (socket opened → sync step 2 received → applied to a fresh
// Y.Doc), alone and ten at once.
import * as Y from 'yjs'
import { SyncClient } from './client.js'
import { prng, quantile, sleep } from './stats.js'

const SEED_CLIENT = 424242

export function buildDocument (ops, seed = 7) {
  const doc = new Y.Doc()
  doc.clientID = SEED_CLIENT
  const text = doc.getText('content')
  const rand = prng(seed)
  for (let i = 0; i < ops; i++) {
    text.insert(Math.floor(rand() * (text.length + 1)), 'abcdefghijklmnopqrstuvwxyz'[i % 26])
  }
  return doc
}

async function join (cfg, room) {
  const client = new SyncClient({ url: cfg.urlFor(room), room, flavor: cfg.flavor })
  let received = 0
  let update = null
  client.onStep2 = (data, start, end, now) => {
    received = now
    update = data.subarray(start, end)
  }
  const t0 = performance.now()
  await client.connect(120000)
  const fresh = new Y.Doc()
  Y.applyUpdate(fresh, update)
  const applied = performance.now()
  const length = fresh.getText('content').length
  client.close()
  return { receivedMs: received - t0, appliedMs: applied - t0, length, bytes: update.length }
}

function rounded (x) {
  return x === null ? null : Math.round(x * 10) / 10
}

export async function runJoin (cfg, emit) {
  const room = `${cfg.roomPrefix}0`
  const tb = performance.now()
  const doc = buildDocument(cfg.ops)
  const update = Y.encodeStateAsUpdate(doc)
  const buildMs = performance.now() - tb
  emit({ event: 'log', msg: `built ${cfg.ops}-op document (${update.length} bytes) in ${buildMs.toFixed(0)} ms` })

  const seeder = new SyncClient({ url: cfg.urlFor(room), room, flavor: cfg.flavor })
  await seeder.connect()
  seeder.send(seeder.updateFrame(update))
  // Wait until a fresh client receives the whole document.
  const until = performance.now() + 120000
  let probe
  for (;;) {
    probe = await join(cfg, room)
    if (probe.length === cfg.ops) break
    if (performance.now() > until) {
      seeder.close()
      return { error: `server never served the document (a joiner got ${probe.length} of ${cfg.ops} characters)` }
    }
    await sleep(200)
  }
  const sequential = []
  for (let i = 0; i < cfg.sequentialJoins; i++) sequential.push(await join(cfg, room))
  emit({ event: 'step_begin', rate: 0 })
  const t0 = performance.now()
  const concurrent = await Promise.all(Array.from({ length: cfg.concurrentJoins }, () => join(cfg, room)))
  const wallMs = performance.now() - t0
  emit({ event: 'step_end' })
  seeder.close()
  const valid = [...sequential, ...concurrent].every((j) => j.length === cfg.ops)
  return {
    ops: cfg.ops,
    docBytes: update.length,
    step2Bytes: probe.bytes,
    valid,
    joinReceivedMs: rounded(quantile(sequential.map((j) => j.receivedMs), 0.5)),
    joinAppliedMs: rounded(quantile(sequential.map((j) => j.appliedMs), 0.5)),
    sequentialJoins: sequential.length,
    concurrentJoins: concurrent.length,
    concurrentWallMs: rounded(wallMs),
    concurrentMaxReceivedMs: rounded(Math.max(...concurrent.map((j) => j.receivedMs)))
  }
}
