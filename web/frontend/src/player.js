// Playback for the History panel: a scratch Replay (in a Web Worker: history-worker.js)
// fed with the stored updates from the starting version on, a page ahead of the step
// shown, so Play animates every stored change at its own pace without loading the whole
// history first, and without holding the page's main thread.
import { RemoteReplay } from './replay-remote.js'
import { stepDelay } from './timeline.js'

const AHEAD = 1000 // updates loaded beyond the step shown
const WAIT_MS = 50 // when the next steps are still on their way

export class Player {
  /** `onStep(step, text)` for each step shown; `onEnd()` at the head or on an error. */
  constructor (api, { onStep, onEnd, onError }) {
    this.api = api
    this.onStep = onStep
    this.onEnd = onEnd
    this.onError = onError
    this.run = null
  }

  get playing () { return this.run !== null }

  /** Play from version `from` to `head`; `speed()` is read at each step. */
  start (from, head, speed) {
    this.stop()
    const run = {}
    this.run = run
    this.replay?.close()
    this.replay = new RemoteReplay()
    this.head = head
    this.from = from
    this.speed = speed
    this.index = -1 // the step playback has reached
    this.shown = -1 // the step on screen
    this.asking = false
    this.loaded = from - 1 // the updates up to this seq are in the replay
    this.loading = null
    this.more(run).then(() => {
      if (this.run !== run) return
      this.clock = performance.now()
      this.budget = 0
      this.tick(run)
    })
  }

  stop () {
    clearTimeout(this.timer)
    this.run = null
  }

  /** Load the next page of steps (one load at a time). */
  more (run) {
    if (this.loading || this.loaded >= this.head) return this.loading || Promise.resolve()
    const after = this.loaded
    const upto = Math.min(this.head, after + AHEAD)
    const previous = this.replay.length ? this.replay.lastSeq : null
    this.loading = this.api.steps(after, upto, previous)
      .then((steps) => {
        if (this.run !== run) return
        this.replay.append(steps)
        this.loaded = upto
      })
      .catch((err) => {
        if (this.run !== run) return
        this.stop()
        this.onError(err)
      })
      .finally(() => { this.loading = null })
    return this.loading
  }

  /** Show step `i` once the worker has its text; the last one ends playback. */
  ask (run, i) {
    this.asking = true
    this.replay.textAt(i).then((text) => {
      this.asking = false
      if (this.run !== run) return
      this.shown = i
      this.onStep(this.replay.steps[i], text)
      if (i === this.replay.length - 1 && this.loaded >= this.head) {
        this.stop()
        this.onEnd()
      }
    })
  }

  tick (run) {
    if (this.run !== run) return
    const now = performance.now()
    this.budget += now - this.clock
    this.clock = now
    const steps = this.replay.steps
    const speed = this.speed()
    const total = this.head - this.from + 1
    const end = steps.length - 1
    let i = this.index
    if (i < 0 && end >= 0) {
      i = 0
      this.budget = 0
    }
    while (i >= 0 && i < end) {
      const delay = stepDelay(steps, i, i + 1, speed, total)
      if (this.budget < delay) break
      this.budget -= delay
      i++
    }
    this.index = i
    if (i >= 0 && i !== this.shown && !this.asking) this.ask(run, i)
    if (end - i < AHEAD / 2) this.more(run)
    const wait = i >= 0 && i < end ? stepDelay(steps, i, i + 1, speed, total) - this.budget : WAIT_MS
    if (i >= end) this.budget = 0 // waiting for data is not time to catch up on
    this.timer = setTimeout(() => this.tick(run), Math.max(16, wait))
  }
}
