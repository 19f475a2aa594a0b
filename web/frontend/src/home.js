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

async function refresh (base, token, query) {
  const list = $('rooms')
  const note = $('rooms-note')
  try {
    const headers = token ? { Authorization: `Bearer ${token}` } : {}
    const response = await fetch(`${base}/api/rooms`, { headers, cache: 'no-store' })
    if (response.status === 401 || response.status === 403) {
      throw new Error('this server needs a token: open the page with ?token=…')
    }
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
