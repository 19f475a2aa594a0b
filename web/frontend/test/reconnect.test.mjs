// Backoff with jitter: every delay is random within [50 %, 100 %] of the capped step.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ObservableV2 } from 'lib0/observable'

globalThis.window = new EventTarget()
globalThis.document = Object.assign(new EventTarget(), { visibilityState: 'visible' })
const { addJitter } = await import('../src/reconnect.js')

/** What y-websocket does on a close: emit, count, then wait min(2^n * 100, max). */
function closeOnce (provider) {
  provider.emit('connection-close', [null, provider])
  provider.wsUnsuccessfulReconnects++
  return Math.min(2 ** provider.wsUnsuccessfulReconnects * 100, provider.maxBackoffTime)
}

function provider () {
  const p = new ObservableV2()
  Object.assign(p, { wsUnsuccessfulReconnects: 0, maxBackoffTime: 2500, shouldConnect: true })
  return p
}

test('delays grow exponentially, stay under the cap and are jittered', () => {
  const p = provider()
  let r = 0
  addJitter(p, { cap: 5000, random: () => [0, 1, 0.5][r++ % 3] })
  const delays = Array.from({ length: 8 }, () => closeOnce(p))
  assert.deepEqual(delays, [100, 400, 600, 800, 3200, 3750, 2500, 5000])
})

test('two tabs with different random draws wait different times', () => {
  const a = provider()
  const b = provider()
  addJitter(a, { random: () => 0.1 })
  addJitter(b, { random: () => 0.9 })
  for (let i = 0; i < 4; i++) assert.notEqual(closeOnce(a), closeOnce(b))
})
