// Past versions for the History panel's slider, one request at a time: while one is
// on its way the slider may move many times, and only the last position is asked for
// next, so scrubbing never queues up requests. Versions never change (history only
// grows), so recent ones are kept.

const KEEP = 200

export class VersionFetch {
  /** `onVersion({seq, text, step})` for the newest wanted version; `onError(err)`. */
  constructor (api, { onVersion, onError }) {
    this.api = api
    this.onVersion = onVersion
    this.onError = onError
    this.cache = new Map()
    this.wanted = null
    this.busy = false
  }

  /** Show version `seq` as soon as it can be: now when it is kept, else after the
   * request in flight (if any) and its own. */
  want (seq) {
    this.wanted = seq
    const kept = this.cache.get(seq)
    if (kept) {
      this.wanted = null
      this.onVersion(kept)
    } else if (!this.busy) {
      this.next()
    }
  }

  /** Forget a wanted version (the panel went back to live). */
  cancel () { this.wanted = null }

  /** Forget every kept version (after the history was rewritten: a reset). */
  clear () { this.cache.clear() }

  async next () {
    this.busy = true
    while (this.wanted !== null) {
      const seq = this.wanted
      let version = this.cache.get(seq)
      if (!version) {
        try {
          version = await this.api.version(seq)
        } catch (err) {
          if (this.wanted === seq) this.wanted = null
          this.onError(err)
          continue
        }
        this.cache.set(seq, version)
        if (this.cache.size > KEEP) this.cache.delete(this.cache.keys().next().value)
      }
      if (this.wanted === seq) {
        this.wanted = null
        this.onVersion(version)
      }
    }
    this.busy = false
  }
}
