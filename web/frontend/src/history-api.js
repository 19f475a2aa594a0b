// The History panel's calls to the room's HTTP API (README, History), with the page's
// token as a Bearer header.
import { Replay, fromBase64 } from './replay.js'

const PAGE = 1000 // updates per call while playing (the server returns up to 5000)
const SESSIONS = 200 // sessions listed in the timeline (the slider covers every update)

/** One room's history API. */
export class HistoryApi {
  constructor (base, room, token) {
    this.prefix = `${base}/api/rooms/${encodeURIComponent(room)}`
    this.token = token
  }

  /** fetch() under the room; a non-2xx answer throws with the server's `detail`. */
  async request (path, init = {}) {
    const headers = { ...(init.headers || {}) }
    if (this.token) headers.Authorization = `Bearer ${this.token}`
    const response = await fetch(this.prefix + path, { cache: 'no-store', ...init, headers })
    if (!response.ok) {
      let detail = `HTTP ${response.status}`
      try { detail = (await response.json()).detail || detail } catch {}
      throw new Error(detail)
    }
    return response
  }

  async json (path, init) { return (await this.request(path, init)).json() }

  post (path, body) {
    return this.json(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body)
    })
  }

  /** What the panel opens with: {head, versions} (no updates: versions are read one
   * at a time with `version`, and playback loads `steps` as it goes). */
  async overview () {
    const [info, versions] = await Promise.all([this.json(''), this.json('/versions')])
    this.origin = info.origin || null
    return { head: info.seq, versions }
  }

  /** The timeline's edit sessions, newest first (slower on long histories: the panel
   * does not wait for them). */
  sessions () { return this.json(`/history?group=session&limit=${SESSIONS}`) }

  /** Version `seq`: {seq, text, step: {seq, time, author}}, the text from the server's
   * `content?at=` (a text timeline there: a few ms whatever the history's length). */
  async version (seq) {
    const [response, rows] = await Promise.all([
      this.request(`/content?at=${seq}&format=text`),
      this.json(`/history?before=${seq + 1}&limit=1`)
    ])
    const text = await response.text()
    const step = rows[0] || { seq, time: null, author: null }
    return { seq, text, step: { seq, time: step.time, author: step.author } }
  }

  /**
   * The stored updates after..upto as replay steps {seq, time, author, update}, in pages.
   * The first step, and any after a gap left by compaction, is the full state at its seq
   * (`previous` = the seq of the step before `after`'s, null when there is none).
   */
  async steps (after, upto, previous = null) {
    const steps = []
    let prev = previous
    for (let at = after; at < upto; at = Math.min(upto, at + PAGE)) {
      const end = Math.min(upto, at + PAGE)
      const rows = await this.json(`/updates?after=${at}&upto=${end}&limit=${PAGE}`)
      for (const row of rows) {
        let update = fromBase64(row.update)
        if (prev === null || Replay.needsFullState(prev, row.seq)) {
          const response = await this.request(`/content?at=${row.seq}&format=yjs`)
          update = new Uint8Array(await response.arrayBuffer())
        }
        steps.push({ seq: row.seq, time: row.time, author: row.author, update })
        prev = row.seq
      }
    }
    return steps
  }

  /** Name version `seq` (the head when null). */
  nameVersion (label, seq = null) {
    return this.post('/versions', seq === null ? { label } : { label, seq })
  }

  /** Make the text version `seq`'s again, as a new edit: {seq, restored, changed}.
   * `author` names the edit in the history when the server has no token user. */
  restore (seq, author = null) { return this.post('/restore', author ? { seq, author } : { seq }) }

  /** A new room `to` that starts with version `seq`'s content: {room, seq, from}. */
  fork (seq, to) { return this.post('/fork', { at: seq, to }) }
}
