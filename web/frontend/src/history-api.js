// The History panel's calls to the room's HTTP API (README, History), with the page's
// token as a Bearer header.
import { Replay, fromBase64 } from './replay.js'

const PAGE = 5000 // the most updates the server returns per call
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

  /**
   * Append every update newer than `replay` to it, and return {head, sessions, versions}.
   * `progress(done, head)` is called between pages.
   */
  async load (replay, progress = () => {}) {
    const [info, sessions, versions] = await Promise.all([
      this.json(''),
      this.json(`/history?group=session&limit=${SESSIONS}`),
      this.json('/versions')
    ])
    const head = info.seq
    this.origin = info.origin || null
    let prev = replay.lastSeq
    let after = prev
    while (after < head) {
      const upto = Math.min(head, after + PAGE)
      const rows = await this.json(`/updates?after=${after}&upto=${upto}&limit=${PAGE}`)
      const steps = []
      for (const row of rows) {
        let update = fromBase64(row.update)
        if (Replay.needsFullState(prev, row.seq)) {
          // Compaction removed the rows before this one: start from the full state here.
          const response = await this.request(`/content?at=${row.seq}&format=yjs`)
          update = new Uint8Array(await response.arrayBuffer())
        }
        steps.push({ seq: row.seq, time: row.time, author: row.author, update })
        prev = row.seq
      }
      replay.append(steps)
      after = upto
      if (after < head) progress(after, head)
    }
    return { head: Math.max(head, replay.lastSeq), sessions, versions }
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
