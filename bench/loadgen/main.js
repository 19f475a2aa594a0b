#!/usr/bin/env node
// The load generator: one process, driven by bench/__main__.py. Usage:
//   node bench/loadgen/main.js '<json config>'
// Prints JSON lines: {"event": "log"|"step_begin"|"step_end"|"baseline"|"connected"}
// while it runs, and {"event": "result", ...} at the end. For `baseline`/`connected` it
// waits for a line on stdin (the driver samples the server's memory meanwhile).
import readline from 'node:readline'
import { runFanout } from './fanout.js'
import { runHistory } from './history.js'
import { runIdle } from './idle.js'
import { runJoin } from './join.js'

const cfg = JSON.parse(process.argv[2])
const base = cfg.url.replace(/\/$/, '')
cfg.urlFor = (room) => `${base}/${room}`

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const lines = readline.createInterface({ input: process.stdin })
const waiting = []
lines.on('line', (line) => { const w = waiting.shift(); if (w) w(line.trim()) })
const waitForGo = () => new Promise((resolve) => waiting.push(resolve))

const scenarios = { fanout: runFanout, idle: runIdle, join: runJoin, history: runHistory }

const killer = setTimeout(() => {
  emit({ event: 'result', error: `load generator deadline of ${cfg.deadlineS} s reached` })
  process.exit(3)
}, cfg.deadlineS * 1000)

try {
  const result = await scenarios[cfg.scenario](cfg, emit, waitForGo)
  emit({ event: 'result', ...result })
} catch (err) {
  emit({ event: 'result', error: String(err && err.stack ? err.stack : err) })
}
clearTimeout(killer)
lines.close()
process.exit(0)
