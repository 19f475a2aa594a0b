// The History panel's heavy lifting, in a Web Worker so the page's main thread stays
// free: the playback document (applying a long document's full state — ~100,000
// characters: a few hundred ms — and each step's update) and the word diff between a
// past version and the current text.
import { Replay } from './replay.js'
import { diffTexts } from './textdiff.js'

let replay = new Replay()

/** One answer per request: {id, result}. */
export function answer (data) {
  if (data.type === 'reset') replay = new Replay()
  else if (data.type === 'append') replay.append(data.steps)
  else if (data.type === 'text') return replay.textAt(data.index)
  else if (data.type === 'diff') return diffTexts(data.a, data.b)
  return null
}

if (typeof self !== 'undefined' && typeof self.postMessage === 'function' && typeof window === 'undefined') {
  self.onmessage = ({ data }) => self.postMessage({ id: data.id, result: answer(data) })
}
