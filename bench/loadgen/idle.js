// Scenario 3: many idle connections. Handshakes per second (WebSocket upgrade + sync
// step 1 answered by step 2, awareness sent) and, measured by the driver between the
// `baseline` and `connected` events, the server's memory per connection.
import { SyncClient, connectRooms } from './client.js'
import { CpuMeter, quantile, sleep } from './stats.js'

export async function runIdle (cfg, emit, waitForGo) {
  // A warm-up connection, so that lazily imported code is not counted per connection.
  const warm = new SyncClient({ url: cfg.urlFor('idle-warmup'), room: 'idle-warmup', flavor: cfg.flavor })
  await warm.connect()
  warm.close()
  await sleep(500)
  emit({ event: 'baseline' })
  await waitForGo()
  const groups = []
  for (let r = 0; r < cfg.rooms; r++) {
    const room = `${cfg.roomPrefix}${r}`
    groups.push([])
    for (let c = 0; c < cfg.clientsPerRoom; c++) {
      groups[r].push(new SyncClient({ url: cfg.urlFor(room), room, flavor: cfg.flavor, name: `i${r}-${c}` }))
    }
  }
  const clients = groups.flat()
  const cpu = new CpuMeter()
  emit({ event: 'step_begin', rate: 0 })
  const t0 = performance.now()
  const { times, failures } = await connectRooms(groups, cfg.connectConcurrency || 50)
  const wallMs = performance.now() - t0
  const loadgenCpu = cpu.read()
  const ok = clients.length - failures.length
  emit({ event: 'step_end', handshakes: ok })
  emit({ event: 'connected', count: ok })
  await waitForGo()
  const stillOpen = clients.filter((c) => !c.closed).length
  for (const c of clients) c.close()
  return {
    connections: clients.length,
    established: ok,
    failures: failures.length,
    firstFailure: failures[0] || null,
    stillOpen,
    wallMs: Math.round(wallMs),
    handshakesPerS: Math.round(ok / (wallMs / 1000)),
    handshakeP50Ms: quantile(times, 0.5),
    handshakeP99Ms: quantile(times, 0.99),
    loadgenCpu: Math.round(loadgenCpu * 100) / 100,
    concurrency: cfg.connectConcurrency || 50
  }
}
