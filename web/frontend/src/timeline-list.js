// The History panel's timeline as a list of buttons: the live version, then sessions and
// named versions, newest first; the entry holding the version on screen is marked.
import { timelineEntries, entryHolds, editsLabel, formatWhen } from './timeline.js'
import { PALETTE, initials } from './identity.js'

/** The author's colour: theirs when they are here now, else a stable one from the
 * presence palette. */
export function colorOf (name, awareness) {
  for (const state of awareness ? awareness.getStates().values() : []) {
    const user = state && state.user
    if (user && user.name === name && /^#[0-9a-f]{6}$/i.test(user.color)) return user.color
  }
  let hash = 0
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0
  return PALETTE[hash % PALETTE.length]
}

/** A new element with a class and text. */
export function el (tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

/** Renders into an <ol>; `onPick(seq)` for an entry, `onLive()` for the live one. */
export class TimelineList {
  constructor (list, { awareness, onPick, onLive }) {
    this.list = list
    this.awareness = awareness
    this.onPick = onPick
    this.onLive = onLive
    this.liveButton = null
  }

  render (sessions, versions, head) {
    const items = [this.liveItem(head)]
    for (const entry of timelineEntries(sessions, versions)) items.push(this.entryItem(entry))
    this.list.replaceChildren(...items)
  }

  liveItem (head) {
    const button = el('button', 'entry entry-live')
    button.type = 'button'
    button.append(el('span', 'entry-icon'), el('span', 'entry-title', 'Current version'),
      el('span', 'entry-meta', head ? `Version ${head} · live` : 'Nothing written yet'))
    button.addEventListener('click', () => this.onLive())
    this.liveButton = button
    const item = el('li')
    item.append(button)
    return item
  }

  entryItem (entry) {
    const button = el('button', `entry entry-${entry.kind}`)
    button.type = 'button'
    button.dataset.seq = String(entry.seq)
    if (entry.kind === 'version') {
      button.append(el('span', 'entry-icon'), el('span', 'entry-title', entry.label),
        el('span', 'entry-meta', `Version ${entry.seq} · ${formatWhen(entry.time)}`))
      button.title = `Named by ${entry.author}`
    } else {
      const avatar = el('span', 'entry-avatar', initials(entry.author))
      avatar.style.setProperty('--person-color', colorOf(entry.author, this.awareness))
      const range = entry.firstSeq === entry.seq ? `${entry.seq}` : `${entry.firstSeq}–${entry.seq}`
      button.append(avatar, el('span', 'entry-title', entry.author),
        el('span', 'entry-meta', `${formatWhen(entry.time)} · ${editsLabel(entry.updates)}`),
        el('span', 'entry-seq', range))
      button.title = `Versions ${range}`
    }
    button.entry = entry
    button.addEventListener('click', () => this.onPick(entry.seq))
    const item = el('li')
    item.append(button)
    return item
  }

  /** Mark the first entry holding version `seq` (the live one when null). */
  mark (seq) {
    let marked = false
    for (const button of this.list.querySelectorAll('.entry')) {
      const on = button === this.liveButton
        ? seq === null
        : seq !== null && !marked && entryHolds(button.entry, seq)
      if (on) marked = true
      if (on) button.setAttribute('aria-current', 'true')
      else button.removeAttribute('aria-current')
    }
  }
}
