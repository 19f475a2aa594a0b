// Small measurement helpers: a latency histogram, percentiles, a seeded PRNG, CPU use.

const RES_MS = 0.05
const MAX_MS = 20000

/** Fixed-resolution latency histogram (0.05 ms buckets up to 20 s, then one overflow). */
export class Histogram {
  constructor () {
    this.buckets = new Uint32Array(Math.ceil(MAX_MS / RES_MS) + 1)
    this.count = 0
    this.max = 0
    this.sum = 0
  }

  record (ms) {
    const i = ms <= 0 ? 0 : Math.min(this.buckets.length - 1, Math.floor(ms / RES_MS))
    this.buckets[i]++
    this.count++
    this.sum += ms
    if (ms > this.max) this.max = ms
  }

  percentile (q) {
    if (this.count === 0) return null
    const target = Math.ceil(this.count * q)
    let seen = 0
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]
      if (seen >= target) return (i + 1) * RES_MS
    }
    return this.max
  }

  summary () {
    const r = (x) => (x === null ? null : Math.round(x * 100) / 100)
    return {
      count: this.count,
      p50: r(this.percentile(0.5)),
      p90: r(this.percentile(0.9)),
      p99: r(this.percentile(0.99)),
      max: r(this.max),
      mean: this.count ? r(this.sum / this.count) : null
    }
  }
}

export function quantile (values, q) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return null
  return v[Math.min(v.length - 1, Math.ceil(v.length * q) - 1)]
}

/** mulberry32: a tiny deterministic PRNG, so every server gets the same documents. */
export function prng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** CPU use of this process between two calls, as a fraction of one core. */
export class CpuMeter {
  constructor () { this.reset() }
  reset () {
    this.cpu = process.cpuUsage()
    this.wall = performance.now()
  }

  read () {
    const d = process.cpuUsage(this.cpu)
    const wallUs = (performance.now() - this.wall) * 1000
    return wallUs > 0 ? (d.user + d.system) / wallUs : 0
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
