// The History panel of the editor page: a timeline of sessions and named versions, a
// slider over every version (seq 1..head), playback, change highlights against the
// current version, naming and restoring. The slider reads one version at a time from
// the server (`content?at=`, version-fetch.js); Play streams the stored updates
// (player.js): nothing loads the whole history. Past versions are shown in a separate
// read-only view (version-view.js); the live view and its Y.Text binding stay as they are.
import { Player } from './player.js'
import { VersionFetch } from './version-fetch.js'
import { bannerText } from './timeline.js'
import { VersionActions } from './version-actions.js'
import { Differ } from './replay-remote.js'
import { VersionView } from './version-view.js'
import { HistoryApi } from './history-api.js'
import { TimelineList, el } from './timeline-list.js'
import { confirmCopy, renderOrigin } from './copy-version.js'

const REFRESH_MS = 700 // after a live change, reload the new tail of the history…
const REFRESH_MAX_MS = 3000 // …at the latest this long after the first unseen change
const DIFF_DELAY_MS = 120

const $ = (id) => document.getElementById(id)

/** The panel and everything it drives; created by the editor page when it has one. */
export class HistoryPanel {
  constructor ({ room, base, token, canWrite, doc, ytext, liveView, awareness = null, lockLive = () => {} }) {
    this.room = room
    this.api = new HistoryApi(base, room, token)
    this.lockLive = lockLive
    this.awareness = awareness
    this.ytext = ytext
    this.liveView = liveView
    this.sessions = []
    this.versions = []
    this.head = 0
    this.seq = 0 // the version shown while viewing
    this.step = null // its {seq, time, author} once loaded
    this.viewing = false
    this.playing = false
    this.loading = null
    this.again = false
    this.versionView = null
    this.timers = {}

    this.panel = $('history')
    this.button = $('history-button')
    this.paper = liveView.dom.parentElement
    this.slider = $('history-slider')
    this.playButton = $('history-play')
    this.speed = $('history-speed')
    this.position = $('history-position')
    this.timeline = new TimelineList($('history-timeline'), {
      awareness,
      onPick: (seq) => {
        this.pause()
        this.show(seq)
      },
      onLive: () => this.backToLive()
    })
    this.fetch = new VersionFetch(this.api, {
      onVersion: (version) => this.showVersion(version),
      onError: (err) => this.say(`Could not load that version (${err.message}).`, 'error')
    })
    this.player = new Player(this.api, {
      onStep: (step, text) => this.showStep(step, text),
      onEnd: () => this.pause(),
      onError: (err) => this.say(`Could not play the history (${err.message}).`, 'error')
    })
    this.actions = new VersionActions(this)
    this.differ = new Differ()
    this.note = $('history-note')
    this.restoreButton = $('history-restore')
    this.nameButton = $('history-name')
    this.forkButton = $('history-fork')
    this.nameForm = $('name-version')
    this.nameInput = $('name-version-input')
    this.banner = $('version-banner')
    this.showChanges = $('history-changes')

    if (!canWrite) {
      this.restoreButton.hidden = true
      this.nameButton.hidden = true
      this.forkButton.hidden = true
      this.panel.dataset.readonly = 'true'
    }
    this.bind()
    doc.on('update', () => {
      if (this.isOpen) this.scheduleRefresh()
      if (this.viewing) this.scheduleDiff()
    })
    window.addEventListener('hashchange', () => this.followHash())
    this.followHash()
  }

  get isOpen () { return !this.panel.hidden }

  bind () {
    this.button.addEventListener('click', () => (this.isOpen ? this.close() : this.open()))
    $('history-close').addEventListener('click', () => this.close())
    $('version-live').addEventListener('click', () => this.backToLive())
    this.slider.addEventListener('input', () => {
      this.pause()
      this.show(Number(this.slider.value))
    })
    this.playButton.addEventListener('click', () => (this.playing ? this.pause() : this.play()))
    this.showChanges.addEventListener('change', () => this.scheduleDiff(0))
    this.restoreButton.addEventListener('click', () => this.actions.confirmRestore())
    this.forkButton.addEventListener('click', () => {
      const seq = this.shownSeq
      confirmCopy(this.room, seq, (to) => this.actions.copy(seq, to))
    })
    this.nameButton.addEventListener('click', () => {
      this.nameForm.hidden = !this.nameForm.hidden
      if (!this.nameForm.hidden) this.nameInput.focus()
    })
    $('name-version-cancel').addEventListener('click', () => { this.nameForm.hidden = true })
    this.nameForm.addEventListener('submit', (event) => {
      event.preventDefault()
      this.actions.name(this.nameInput.value)
    })
    this.panel.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape' || event.defaultPrevented) return
      if (this.nameForm.contains(event.target)) {
        this.nameForm.hidden = true
        this.nameButton.focus()
      } else this.close()
    })
    this.paper.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.viewing) this.backToLive()
    })
  }

  // ---------- opening and closing ----------

  followHash () {
    if (location.hash === '#history') this.open()
    else if (this.isOpen) this.close()
  }

  open () {
    if (!this.isOpen) {
      this.panel.hidden = false
      this.button.setAttribute('aria-expanded', 'true')
      document.body.dataset.history = 'open'
    }
    if (location.hash !== '#history') history.replaceState(null, '', '#history')
    return this.refresh()
  }

  close () {
    this.backToLive()
    this.panel.hidden = true
    this.button.setAttribute('aria-expanded', 'false')
    delete document.body.dataset.history
    if (location.hash) history.replaceState(null, '', location.pathname + location.search)
    this.button.focus()
  }

  // ---------- loading ----------

  /** Refresh once changes stop for a moment, or a few seconds after the first one. */
  scheduleRefresh () {
    const now = Date.now()
    if (!this.refreshFirst) this.refreshFirst = now
    const wait = Math.max(0, Math.min(REFRESH_MS, this.refreshFirst + REFRESH_MAX_MS - now))
    this.later('refresh', wait, () => {
      this.refreshFirst = 0
      this.refresh()
    })
  }

  /** Load what is new (one load at a time; a request during a load runs after it). */
  refresh () {
    if (this.loading) {
      this.again = true
      return this.loading
    }
    this.panel.dataset.loading = 'true'
    this.loading = this.load()
      .catch((err) => this.say(`Could not load the history (${err.message}).`, 'error'))
      .finally(() => {
        this.loading = null
        if (this.again) {
          this.again = false
          return this.refresh()
        }
        delete this.panel.dataset.loading
      })
    return this.loading
  }

  async load () {
    const sessions = this.api.sessions()
    const { head, versions } = await this.api.overview()
    if (head < this.head) this.fetch.clear() // the room was reset: its versions are new
    this.head = head
    this.versions = versions
    this.renderScrubber()
    this.renderTimeline()
    this.renderMarks()
    renderOrigin($('history-origin'), this.api.origin)
    // The slider is usable now; the sessions of a long history may take a moment more.
    const turn = (this.sessionsTurn = (this.sessionsTurn || 0) + 1)
    this.panel.dataset.sessions = 'loading'
    sessions
      .then((found) => {
        if (turn !== this.sessionsTurn) return
        this.sessions = found
        this.renderTimeline()
      })
      .catch((err) => this.say(`Could not load the edit sessions (${err.message}).`, 'error'))
      .finally(() => { if (turn === this.sessionsTurn) delete this.panel.dataset.sessions })
  }

  renderTimeline () {
    this.timeline.render(this.sessions, this.versions, this.head)
    this.markTimeline()
  }

  // ---------- viewing a version ----------

  /** Show version `seq` read-only in place of the live editor (its text follows from
   * the server; the slider and the banner move at once). */
  show (seq) {
    if (this.head < 1) return
    this.seq = Math.max(1, Math.min(seq, this.head))
    this.enterViewing()
    this.banner.dataset.seq = String(this.seq)
    this.renderScrubber()
    this.markTimeline()
    this.fetch.want(this.seq)
  }

  /** A version arrived: show it if it is still the one wanted. */
  showVersion ({ seq, text, step }) {
    if (!this.viewing || this.playing || seq !== this.seq) return
    this.versionView.show(text, false)
    this.shown(step)
    this.scheduleDiff()
  }

  /** A step of playback. */
  showStep (step, text) {
    this.seq = step.seq
    this.enterViewing()
    this.versionView.show(text, true)
    this.banner.dataset.seq = String(step.seq)
    this.shown(step)
    this.renderScrubber()
    this.markTimeline()
  }

  shown (step) {
    this.step = step
    this.banner.dataset.shownSeq = String(step.seq)
    $('version-text').textContent = bannerText(step)
  }

  enterViewing () {
    if (this.versionView === null) {
      this.versionView = new VersionView(this.paper, `Past version of ${this.room} (read-only)`)
    }
    if (this.viewing) return
    this.viewing = true
    this.lockLive(true)
    this.paper.dataset.viewing = 'true'
    this.banner.hidden = false
  }

  backToLive () {
    this.pause()
    this.fetch.cancel()
    if (!this.viewing) return
    this.viewing = false
    this.seq = 0
    this.step = null
    delete this.banner.dataset.shownSeq
    delete this.paper.dataset.viewing
    this.banner.hidden = true
    this.lockLive(false)
    this.liveView.requestMeasure()
    this.renderScrubber()
    this.markTimeline()
  }

  /** Highlight the differences against the current text, a moment after the last move. */
  scheduleDiff (delay = DIFF_DELAY_MS) {
    if (!this.versionView) return
    this.later('diff', delay, async () => {
      if (!this.viewing || this.playing) return
      const current = this.ytext.toString()
      const shown = this.versionView.text
      // word diff of two long texts: in the worker (history-worker.js), not here
      const ops = this.showChanges.checked ? await this.differ.diff(shown, current) : null
      if (!this.viewing || this.playing || this.versionView.text !== shown) return
      if (this.ytext.toString() !== current) return this.scheduleDiff() // edited meanwhile
      this.versionView.highlight(ops, current)
      this.banner.dataset.changes = ops === null ? 'hidden' : String(ops.length)
    })
  }

  // ---------- playback ----------

  play () {
    if (this.head < 2) return
    const from = this.viewing && this.seq < this.head ? this.seq : 1
    this.playing = true
    this.fetch.cancel()
    this.playButton.dataset.playing = 'true'
    this.playButton.setAttribute('aria-label', 'Pause')
    this.banner.setAttribute('aria-live', 'off') // not one announcement per step
    this.enterViewing()
    this.versionView.highlight(null)
    const speed = () => (this.speed.value === 'uniform' ? 'uniform' : Number(this.speed.value))
    this.player.start(from, this.head, speed)
  }

  pause () {
    this.player.stop()
    if (!this.playing) return
    this.playing = false
    delete this.playButton.dataset.playing
    this.playButton.setAttribute('aria-label', 'Play')
    this.banner.removeAttribute('aria-live')
    this.scheduleDiff()
  }

  /** The version shown (the head when live). */
  get shownSeq () { return this.viewing ? this.seq : this.head }

  // ---------- rendering ----------

  say (text, kind = 'ok', action = null) {
    this.note.dataset.kind = kind
    this.note.replaceChildren(el('span', '', text))
    if (action) {
      const button = el('button', 'link-button', action.label)
      button.type = 'button'
      button.addEventListener('click', () => { this.note.replaceChildren(); action.run() })
      this.note.append(' ', button)
    }
  }

  renderScrubber () {
    const empty = this.head < 1
    this.slider.min = '1'
    this.slider.max = String(Math.max(1, this.head))
    this.slider.disabled = empty
    this.playButton.disabled = this.head < 2
    const seq = this.viewing ? this.seq : this.head
    this.slider.value = String(Math.max(1, seq))
    const text = empty
      ? 'No edits yet'
      : this.viewing ? `Version ${seq} of ${this.head}` : `Current version · ${this.head}`
    this.position.textContent = text
    this.slider.setAttribute('aria-valuetext', text)
    this.panel.dataset.seq = String(seq)
    const atHead = !this.viewing || seq === this.head
    this.restoreButton.disabled = atHead
    this.restoreButton.title = atHead ? 'Pick an earlier version to restore it' : `Make version ${seq} the current text`
    this.nameButton.textContent = this.viewing ? `Name version ${seq}` : 'Name this version'
    this.nameButton.disabled = empty
    this.forkButton.disabled = empty
    this.forkButton.textContent = this.viewing ? `Make a copy from version ${seq}` : 'Make a copy from this version'
  }

  /** Named versions as small flags along the slider. */
  renderMarks () {
    const marks = $('history-marks')
    const last = this.head - 1
    if (!marks || last < 1) return marks?.replaceChildren()
    marks.replaceChildren(...this.versions.map((version) => {
      const mark = el('span', 'slider-mark')
      const at = Math.max(0, version.seq - 1) / last
      mark.style.setProperty('--at', String(at))
      mark.title = version.label
      return mark
    }))
  }

  markTimeline () {
    this.timeline.mark(this.viewing ? this.seq : null)
  }

  later (name, ms, fn) {
    clearTimeout(this.timers[name])
    this.timers[name] = setTimeout(fn, ms)
  }
}
