// The presence bar (everyone in the room) and the typing indicator, both from awareness.
import { initials } from './identity.js'

const TYPING_IDLE_MS = 1500 // local: typing → false after this long without a change
const TYPING_STALE_MS = 5000 // remote: ignore a `typing: true` not refreshed for this long

/** People in the room: [{clientId, name, color, local, typing}], local user first. */
export function peopleOf (awareness, now = Date.now()) {
  const people = []
  for (const [clientId, state] of awareness.getStates()) {
    const user = state && state.user
    if (!user || typeof user.name !== 'string') continue
    const meta = awareness.meta.get(clientId)
    const fresh = !meta || now - meta.lastUpdated < TYPING_STALE_MS
    people.push({
      clientId,
      id: typeof user.id === 'string' && user.id ? user.id.slice(0, 80) : `client:${clientId}`,
      name: user.name.slice(0, 40),
      color: /^#[0-9a-f]{6}$/i.test(user.color) ? user.color : '#64748b',
      local: clientId === awareness.clientID,
      typing: state.typing === true && fresh
    })
  }
  return people.sort((a, b) => (b.local - a.local) || a.name.localeCompare(b.name) ||
    a.clientId - b.clientId)
}

/** One entry per person (tabs sharing a browser, or a token's user, are one person):
 * {…the first tab's fields, tabs, clientIds}, typing when any tab is; local when one of
 * the tabs is this one (then its name and colour are this tab's). Order kept. */
export function groupPeople (people) {
  const byId = new Map()
  for (const person of people) {
    const group = byId.get(person.id)
    if (!group) {
      byId.set(person.id, { ...person, tabs: 1, clientIds: [person.clientId] })
      continue
    }
    group.tabs++
    group.clientIds.push(person.clientId)
    group.typing = group.typing || person.typing
    if (person.local) Object.assign(group, { local: true, name: person.name, color: person.color })
  }
  return [...byId.values()].sort((a, b) => (b.local - a.local) || a.name.localeCompare(b.name))
}

/** "3 tabs" after a name ("" for one). */
export const tabsLabel = (tabs) => (tabs > 1 ? `${tabs} tabs` : '')

/** "Alice is typing…", "Alice and Bob are typing…", "Alice, Bob and 2 others are typing…". */
export function typingText (names) {
  if (names.length === 0) return ''
  if (names.length === 1) return `${names[0]} is typing…`
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`
  return `${names[0]}, ${names[1]} and ${names.length - 2} others are typing…`
}

function chip (person, onRename) {
  const el = document.createElement(person.local ? 'button' : 'li')
  el.className = 'person' + (person.local ? ' person-local' : '')
  el.dataset.clientId = String(person.clientId)
  el.style.setProperty('--person-color', person.color)
  const tabs = tabsLabel(person.tabs || 1)
  el.title = person.local
    ? 'You — click to change your name'
    : person.name + (tabs ? ` (${tabs})` : '')
  const avatar = document.createElement('span')
  avatar.className = 'avatar'
  avatar.textContent = initials(person.name)
  avatar.setAttribute('aria-hidden', 'true')
  const name = document.createElement('span')
  name.className = 'person-name'
  name.textContent = person.name
  el.append(avatar, name)
  if (tabs && !person.local) {
    const count = document.createElement('span')
    count.className = 'tabs'
    count.textContent = `· ${tabs}`
    el.append(count)
  }
  if (person.local) {
    const you = document.createElement('span')
    you.className = 'you'
    you.textContent = tabs ? `(you · ${tabs})` : '(you)'
    el.append(you)
    el.type = 'button'
    el.addEventListener('click', onRename)
    const item = document.createElement('li')
    item.append(el)
    return item
  }
  return el
}

/** Keeps the presence list and the typing line in sync with awareness. */
export class PresenceView {
  constructor (awareness, { list, typing, count, onRename }) {
    this.awareness = awareness
    this.list = list
    this.typing = typing
    this.count = count
    this.onRename = onRename
    awareness.on('change', () => this.render())
    // Re-render now and then so a stale remote `typing` flag disappears on its own.
    setInterval(() => this.render(), 1000)
    this.render()
  }

  render () {
    const people = groupPeople(peopleOf(this.awareness))
    const key = JSON.stringify(people)
    if (key === this.lastKey) return
    this.lastKey = key
    if (this.list) this.list.replaceChildren(...people.map((p) => chip(p, this.onRename)))
    if (this.count) {
      this.count.textContent = people.length === 1 ? 'Just you' : `${people.length} here`
    }
    const names = people.filter((p) => p.typing && !p.local).map((p) => p.name)
    this.typing.textContent = typingText(names)
    this.typing.classList.toggle('visible', names.length > 0)
  }
}

/** Sets awareness `typing` while the local user changes the text. */
export class TypingSignal {
  constructor (awareness) {
    this.awareness = awareness
    this.timer = 0
  }

  /** Call on every local edit. */
  poke () {
    const state = this.awareness.getLocalState()
    if (state && state.typing !== true) this.awareness.setLocalStateField('typing', true)
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.awareness.setLocalStateField('typing', false),
      TYPING_IDLE_MS)
  }
}
