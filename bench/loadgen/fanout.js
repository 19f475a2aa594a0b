// Scenarios 1, 2 and 5: rooms with one writer and N-1 readers, the aggregate update
// rate rising step by step until p99 fan-out latency exceeds the limit or a delivery is
// lost. A delivery is one update (one struct clock of the writer) at one other client.
import * as Y from 'yjs'
import { SyncClient, connectRooms } from './client.js'
import { scanUpdate } from './yupdate.js'
import { CpuMeter, Histogram, prng, quantile, sleep } from './stats.js'

class Writer {
  constructor (client, seed) {
    this.client = client
    this.doc = client.doc
    this.text = this.doc.getText('content')
    this.rand = prng(seed)
    this.cursor = 0
    this.nextClock = 0 // clock of the next update (each update inserts one character)
    this.sendTimes = new Float64Array(1 << 14)
    this.frames = []
  }

  /** Pre-build `n` updates (typing at a cursor that jumps now and then). */
  prepare (n) {
    const frames = new Array(n)
    let i = 0
    const onUpdate = (update) => { frames[i++] = this.client.updateFrame(update) }
    this.doc.on('update', onUpdate)
    for (let k = 0; k < n; k++) {
      const len = this.text.length
      if (this.rand() < 0.03) this.cursor = Math.floor(this.rand() * (len + 1))
      this.text.insert(Math.min(this.cursor, len), 'abcdefghij'[k % 10])
      this.cursor++
    }
    this.doc.off('update', onUpdate)
    this.frames = frames
    const need = this.nextClock + n
    if (need > this.sendTimes.length) {
      let size = this.sendTimes.length
      while (size < need) size *= 2
      const grown = new Float64Array(size)
      grown.set(this.sendTimes)
      this.sendTimes = grown
    }
  }
}

class Reader {
  constructor (client, writer, step) {
    this.client = client
    this.writer = writer
    this.writerClient = writer.doc.clientID
    this.seen = new Uint8Array(1 << 14)
    this.step = step
    const visit = (clientId, clock, len) => {
      if (clientId !== this.writerClient) return
      const end = clock + len
      if (end > this.seen.length) this.grow(end)
      const seen = this.seen
      const sendTimes = this.writer.sendTimes
      const st = this.step.current
      for (let c = clock; c < end; c++) {
        if (seen[c]) continue
        seen[c] = 1
        const t = sendTimes[c]
        if (t > 0 && st) {
          st.hist.record(this.now - t)
          st.delivered++
        }
      }
    }
    this.now = 0
    client.onUpdate = (data, start, end, now) => {
      this.now = now
      scanUpdate(data, start, end, visit)
    }
  }

  grow (need) {
    let size = this.seen.length
    while (size < need) size *= 2
    const grown = new Uint8Array(size)
    grown.set(this.seen)
    this.seen = grown
  }
}

export async function runFanout (cfg, emit, waitForGo) {
  const rooms = cfg.rooms
  const perRoom = cfg.clientsPerRoom
  const step = { current: null }
  const writers = []
  const clients = []
  const groups = []
  for (let r = 0; r < rooms; r++) {
    const room = `${cfg.roomPrefix}${r}`
    groups.push([])
    for (let c = 0; c < perRoom; c++) {
      const doc = new Y.Doc()
      const client = new SyncClient({ url: cfg.urlFor(room), room, flavor: cfg.flavor, name: `c${r}-${c}`, doc })
      clients.push(client)
      groups[r].push(client)
      if (c === 0) writers.push(new Writer(client, 1000 + r))
      else new Reader(client, writers[writers.length - 1], step) // eslint-disable-line no-new
    }
  }
  const t0 = performance.now()
  const { times, failures } = await connectRooms(groups, cfg.connectConcurrency || 50)
  const connectMs = performance.now() - t0
  emit({ event: 'log', msg: `connected ${clients.length - failures.length}/${clients.length} in ${connectMs.toFixed(0)} ms` })
  if (failures.length) {
    for (const c of clients) c.close()
    return { error: `connect failures: ${failures.length} (${failures[0]})`, steps: [] }
  }
  await sleep(1000) // let awareness and handshakes settle

  const steps = []
  const discarded = []
  let stepSeq = 0
  const cpu = new CpuMeter()
  const deadline = performance.now() + cfg.maxSeconds * 1000
  const repeats = new Map()
  for (let ri = 0; ri < cfg.rates.length; ri++) {
    const rate = cfg.rates[ri]
    if (performance.now() > deadline) { emit({ event: 'log', msg: 'time budget exhausted' }); break }
    // Every writer sends the same number of updates: an unsent one would leave a gap in
    // its clocks, and everything after it would wait for it on the server.
    const per = Math.max(1, Math.round((rate * cfg.stepSeconds) / writers.length))
    const total = per * writers.length
    for (const w of writers) w.prepare(per)
    const st = { hist: new Histogram(), delivered: 0 }
    const expected = total * (perRoom - 1)
    emit({ event: 'step_begin', rate })
    cpu.reset()
    step.current = st
    const start = performance.now()
    const lags = []
    let sent = 0
    await new Promise((resolve) => {
      const tick = () => {
        const now = performance.now()
        const due = Math.min(total, Math.floor(((now - start) / 1000) * rate))
        if (due > sent) {
          lags.push(now - (start + (sent / rate) * 1000))
          const corked = new Set()
          while (sent < due) {
            const w = writers[sent % writers.length]
            const j = Math.floor(sent / writers.length)
            const sock = w.client.ws._socket
            if (!corked.has(sock)) { sock.cork(); corked.add(sock) }
            w.sendTimes[w.nextClock + j] = performance.now()
            w.client.send(w.frames[j])
            sent++
          }
          for (const s of corked) s.uncork()
        }
        if (sent < total) setTimeout(tick, 1)
        else resolve()
      }
      tick()
    })
    const sendEnd = performance.now()
    const cpuSend = cpu.read()
    const drainUntil = sendEnd + cfg.drainSeconds * 1000
    while (st.delivered < expected && performance.now() < drainUntil) await sleep(5)
    const done = performance.now()
    step.current = null
    for (const w of writers) {
      w.nextClock += per
      w.frames = []
    }
    const sendS = (sendEnd - start) / 1000
    const lat = st.hist.summary()
    const closed = clients.filter((c) => c.closed).length
    const result = {
      rate,
      sent: total,
      sendRate: Math.round(total / sendS),
      expected,
      delivered: st.delivered,
      lost: expected - st.delivered,
      deliveriesPerS: Math.round(st.delivered / sendS),
      latencyMs: lat,
      sendLagP99Ms: Math.round((quantile(lags, 0.99) || 0) * 100) / 100,
      drainMs: Math.round(done - sendEnd),
      loadgenCpu: Math.round(cpuSend * 100) / 100,
      closedClients: closed
    }
    result.pass = result.lost === 0 && lat.p99 !== null && lat.p99 <= cfg.p99LimitMs &&
      result.sendRate >= 0.95 * rate && closed === 0
    // The load generator is the bottleneck when it cannot keep its own schedule.
    result.loadgenBound = result.loadgenCpu >= 0.9 || result.sendLagP99Ms > 20
    result.seq = stepSeq++
    emit({ event: 'step_end', ...result })
    // The driver answers "again" when other processes disturbed the step (it measures
    // the machine's CPU use): the same rate is measured once more, the first discarded.
    if ((await waitForGo()) === 'again') {
      repeats.set(rate, (repeats.get(rate) || 0) + 1)
      result.repeated = true
      discarded.push(result)
      ri--
      await sleep(300)
      continue
    }
    result.repeats = repeats.get(rate) || 0
    steps.push(result)
    if (!result.pass && cfg.stopOnFail !== false) break
    await sleep(300)
  }
  for (const c of clients) c.close()
  const passed = steps.filter((s) => s.pass)
  const best = passed.length ? passed[passed.length - 1] : null
  return {
    connections: clients.length,
    connectMs: Math.round(connectMs),
    connectP99Ms: quantile(times, 0.99),
    steps,
    discardedSteps: discarded,
    maxRate: best ? best.rate : 0,
    maxDeliveriesPerS: best ? best.deliveriesPerS : 0,
    rampExhausted: steps.length === cfg.rates.length && steps.every((s) => s.pass),
    failedStep: steps.find((s) => !s.pass) || null
  }
}
