// The landing page: the rooms that exist, and a field to open or create one.
import { registerOffline } from './offline.js'

const ROOM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/
const REFRESH_MS = 5000
const $ = (id) => document.getElementById(id)

/** "just now", "5 min ago", "3 h ago", "2 days ago", else a date. */
export function ago (iso, now = Date.now()) {
  if (!iso) return 'never'
  const seconds = Math.max(0, (now - Date.parse(iso)) / 1000)
  if (seconds < 45) return 'just now'
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`
  if (seconds < 86400 * 14) return `${Math.round(seconds / 86400)} days ago`
  return new Date(iso).toLocaleDateString()
}

/** A room name typed by a person → a valid one ("Team notes" → "Team-notes"), or null. */
export function roomNameFrom (raw) {
  const name = String(raw || '').trim().replace(/\s+/g, '-').replace(/[^A-Za-z0-9_.-]/g, '')
  return ROOM_NAME.test(name) ? name : null
}

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

async function refresh (base, token, query) {
  const list = $('rooms')
  const note = $('rooms-note')
  try {
    const headers = token ? { Authorization: `Bearer ${token}` } : {}
    const response = await fetch(`${base}/api/rooms`, { headers, cache: 'no-store' })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    const rooms = await response.json()
    list.replaceChildren(...rooms.map((room) => roomRow(room, base, query)))
    note.textContent = rooms.length ? '' : 'No rooms yet — name one above to start writing.'
  } catch (err) {
    note.textContent = navigator.onLine
      ? `Could not load the rooms (${err.message}).`
      : 'Offline — the list of rooms will appear when you are back online.'
  }
  document.body.dataset.loaded = 'true'
}

function main () {
  const base = document.body.dataset.base || ''
  const token = new URLSearchParams(location.search).get('token')
  const query = token ? `?token=${encodeURIComponent(token)}` : ''
  const form = $('open-room')
  const input = $('room-input')
  const hint = $('room-hint')
  input.addEventListener('input', () => {
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
  refresh(base, token, query)
  setInterval(() => { if (document.visibilityState === 'visible') refresh(base, token, query) },
    REFRESH_MS)
  registerOffline(base)
}

main()
