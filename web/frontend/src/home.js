// The landing page: the rooms that exist, and a field to open or create one.
import { registerOffline } from './offline.js'
import { ago, roomNameFrom } from './rooms.js'

const REFRESH_MS = 5000
const $ = (id) => document.getElementById(id)

function roomRow (room, base, query) {
  const item = document.createElement('li')
  const link = document.createElement('a')
  link.className = 'room'
  link.href = `${base}/r/${encodeURIComponent(room.name)}${query}`
  const name = document.createElement('span')
  name.className = 'room-name'
  name.textContent = room.name
  const edited = document.createElement('span')
  edited.className = 'room-edited'
  edited.textContent = `edited ${ago(room.updated_at)}`
  if (room.updated_at) edited.title = new Date(room.updated_at).toLocaleString()
  const people = document.createElement('span')
  people.className = 'room-people' + (room.connections > 0 ? ' live' : '')
  people.textContent = room.connections === 0
    ? 'nobody here'
    : room.connections === 1 ? '1 person here' : `${room.connections} people here`
  link.append(name, edited, people)
  item.append(link)
  return item
}

const PAGE = 50

/** The room list, a page at a time from `GET /api/rooms` (limit, cursor, prefix): the
 * first pages are reloaded every few seconds, "More rooms" appends the next one, and
 * typing in the name field narrows the list to rooms starting with it. */
class RoomList {
  constructor (base, token, query) {
    this.base = base
    this.query = query
    this.headers = token ? { Authorization: `Bearer ${token}` } : {}
    this.prefix = ''
    this.shown = PAGE // rooms the list holds (grows with "More rooms")
    this.next = null
    this.more = $('rooms-more')
    this.more.addEventListener('click', () => this.loadMore())
  }

  async fetchPage (limit, cursor) {
    const params = new URLSearchParams({ limit: String(limit) })
    if (this.prefix) params.set('prefix', this.prefix)
    if (cursor) params.set('cursor', cursor)
    const response = await fetch(`${this.base}/api/rooms?${params}`,
      { headers: this.headers, cache: 'no-store' })
    if (response.status === 401 || response.status === 403) {
      throw new Error('this server needs a token: open the page with ?token=…')
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    return { rooms: await response.json(), next: response.headers.get('X-Samepage-Next-Cursor') }
  }

  /** Reload what the list shows (the first `shown` rooms). */
  async refresh () {
    const note = $('rooms-note')
    const prefix = this.prefix
    try {
      const { rooms, next } = await this.fetchPage(Math.min(this.shown, 1000), null)
      if (prefix !== this.prefix) return // typed on meanwhile: a newer refresh follows
      $('rooms').replaceChildren(...rooms.map((room) => roomRow(room, this.base, this.query)))
      this.settle(next, rooms.length)
    } catch (err) {
      note.textContent = navigator.onLine
        ? `Could not load the rooms (${err.message}).`
        : 'Offline — the list of rooms will appear when you are back online.'
    }
    document.body.dataset.loaded = 'true'
  }

  async loadMore () {
    if (!this.next) return
    this.more.disabled = true
    try {
      const { rooms, next } = await this.fetchPage(PAGE, this.next)
      $('rooms').append(...rooms.map((room) => roomRow(room, this.base, this.query)))
      this.shown += rooms.length
      this.settle(next, $('rooms').children.length)
    } catch (err) {
      $('rooms-note').textContent = `Could not load more rooms (${err.message}).`
    } finally {
      this.more.disabled = false
    }
  }

  settle (next, count) {
    this.next = next
    this.more.hidden = !next
    $('rooms-note').textContent = count
      ? ''
      : this.prefix
        ? `No rooms starting with “${this.prefix}” yet — open it to start one.`
        : 'No rooms yet — name one above to start writing.'
  }

  /** Narrow the list to names starting with `prefix` (the room the field would open). */
  filter (prefix) {
    if (prefix === this.prefix) return
    this.prefix = prefix
    this.shown = PAGE
    this.refresh()
  }
}

function main () {
  const base = document.body.dataset.base || ''
  const token = new URLSearchParams(location.search).get('token')
  const query = token ? `?token=${encodeURIComponent(token)}` : ''
  const form = $('open-room')
  const input = $('room-input')
  const hint = $('room-hint')
  const list = new RoomList(base, token, query)
  let typing = 0
  input.addEventListener('input', () => {
    clearTimeout(typing)
    typing = setTimeout(() => list.filter(roomNameFrom(input.value) || ''), 150)
    const name = roomNameFrom(input.value)
    hint.textContent = input.value.trim() && !name
      ? 'Use letters, digits, ".", "_" or "-" (up to 128).'
      : name && name !== input.value.trim() ? `Opens “${name}”` : ''
  })
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const name = roomNameFrom(input.value)
    if (!name) {
      hint.textContent = 'Use letters, digits, ".", "_" or "-" (up to 128).'
      input.focus()
      return
    }
    location.href = `${base}/r/${encodeURIComponent(name)}${query}`
  })
  list.refresh()
  setInterval(() => { if (document.visibilityState === 'visible') list.refresh() }, REFRESH_MS)
  registerOffline(base)
}

main()
