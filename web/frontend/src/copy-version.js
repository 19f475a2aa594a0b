// "Make a copy from this version" (POST /api/rooms/{room}/fork, docs/rooms.md): the
// dialog that names the new room, and the History panel's "Copied from" line.
import { el } from './timeline-list.js'

const $ = (id) => document.getElementById(id)

/** The editor page of `room`, keeping this page's query (its token). */
export function roomUrl (room) {
  return `${location.pathname.replace(/[^/]*$/, '')}${encodeURIComponent(room)}${location.search}`
}

/** Ask for the new room's name (suggesting ROOM-copy-SEQ), then call `onName(name)`. */
export function confirmCopy (room, seq, onName) {
  const dialog = $('fork-dialog')
  const input = $('fork-name')
  $('fork-title').textContent = `Make a copy from version ${seq}`
  input.value = `${room}-copy-${seq}`.slice(0, 128)
  dialog.onclose = () => {
    if (dialog.returnValue === 'fork') onName(input.value.trim())
  }
  dialog.returnValue = ''
  dialog.showModal()
  input.select()
}

/** "Copied from ROOM at version N." when the room began as a copy (`origin` of
 * GET /api/rooms/{room}); hidden otherwise. */
export function renderOrigin (line, origin) {
  if (!line) return
  line.hidden = !origin
  if (!origin) return
  const link = el('a', '', origin.room)
  link.href = `${roomUrl(origin.room)}#history`
  line.replaceChildren(el('span', '', 'Copied from '), link, el('span', '', ` at version ${origin.seq}.`))
}
