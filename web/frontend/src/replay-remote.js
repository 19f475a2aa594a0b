// The History panel's side of history-worker.js: requests with an id, answers as
// promises. Where workers are missing (Node's unit tests) the same calls run here.
import { Replay } from './replay.js'
import { diffTexts } from './textdiff.js'

/** The worker's URL: beside the editor bundle, with its cache-busting version. */
function workerUrl () {
  const script = document.querySelector('script[src*="editor.js"]')
  return script ? script.src.replace('editor.js', 'history-worker.js') : 'history-worker.js'
}

class HistoryWorker {
  constructor () {
    this.asked = new Map()
    this.next = 0
    this.worker = new Worker(workerUrl(), { type: 'module' })
    this.worker.onmessage = ({ data }) => {
      this.asked.get(data.id)?.(data.result)
      this.asked.delete(data.id)
    }
  }

  send (message) { this.worker.postMessage({ ...message, id: -1 }) }

  call (message) {
    const id = this.next++
    return new Promise((resolve) => {
      this.asked.set(id, resolve)
      this.worker.postMessage({ ...message, id })
    })
  }

  close () { this.worker.terminate() }
}

const hasWorkers = () => typeof Worker !== 'undefined' && typeof document !== 'undefined'

/** The word diff of two texts (textdiff.diffTexts), off the main thread. */
export class Differ {
  constructor () { this.worker = hasWorkers() ? new HistoryWorker() : null }

  diff (a, b) {
    return this.worker ? this.worker.call({ type: 'diff', a, b }) : Promise.resolve(diffTexts(a, b))
  }
}

/** A Replay whose document lives in the worker, with the same steps list here;
 * `textAt` answers asynchronously. */
export class RemoteReplay {
  constructor () {
    this.steps = [] // {seq, time, author} of each step, as the worker holds them
    this.local = hasWorkers() ? null : new Replay()
    this.worker = this.local ? null : new HistoryWorker()
  }

  get length () { return this.steps.length }

  get lastSeq () { return this.steps.length ? this.steps[this.steps.length - 1].seq : 0 }

  /** Add steps newer than every step so far (their updates are copied to the worker). */
  append (steps) {
    const fresh = steps.filter((step) => step.seq > this.lastSeq)
    for (const { seq, time, author } of fresh) this.steps.push({ seq, time, author })
    if (this.local) this.local.append(fresh)
    else this.worker.send({ type: 'append', steps: fresh })
  }

  /** The text after step `index`. */
  textAt (index) {
    if (this.local) return Promise.resolve(this.local.textAt(index))
    return this.worker.call({ type: 'text', index })
  }

  close () { this.worker?.close() }
}
