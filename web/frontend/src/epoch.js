// Room epochs (docs/rooms.md): a reset or delete gives the room a new document, and this
// browser's copy of the old one must never be sent back. The page keeps the epoch its
// copy belongs to, names it in the handshake (`?epoch=N`; empty when it has no copy
// yet, and the server answers with the `epoch` message, 104), and keeps each epoch's copy
// in its own IndexedDB database. A copy of another epoch is closed with 4410: the page
// then deletes it, loads the new document and says so.
import * as decoding from 'lib0/decoding'

export const MESSAGE_EPOCH = 104
export const CLOSE_ROOM_RESET = 4410
const NOTICE = 'samepage:reset-notice'

const epochKey = (room) => `samepage:epoch:${room}`

/** The epoch this browser's copy of `room` belongs to (null: not known yet). */
export function storedEpoch (room) {
  const raw = localStorage.getItem(epochKey(room))
  const epoch = raw === null ? NaN : Number(raw)
  return Number.isInteger(epoch) && epoch >= 0 ? epoch : null
}

/** The IndexedDB database of that copy (epoch 0 keeps the name pages always used). */
export const localName = (room, epoch) => (epoch ? `samepage:${room}@${epoch}` : `samepage:${room}`)

/** The handshake's `epoch` parameter: the copy's epoch, or '' (no copy: tell me). */
export function epochParam (room) {
  const epoch = storedEpoch(room)
  return epoch === null ? '' : String(epoch)
}

/** Remember the epoch the server names (message 104) when this copy had none yet. */
export function followEpoch (provider, room) {
  provider.messageHandlers[MESSAGE_EPOCH] = (_encoder, decoder) => {
    const epoch = decoding.readVarUint(decoder)
    if (storedEpoch(room) === null) localStorage.setItem(epochKey(room), String(epoch))
  }
}

/** The new epoch from a 4410 close reason (`room reset: epoch 3`), else null. */
export function epochFromReason (reason = '') {
  const match = /epoch (\d+)/.exec(reason)
  return match ? Number(match[1]) : null
}

/**
 * The room was reset or deleted (close 4410): delete this browser's copy of the old
 * document (IndexedDB included), note the new epoch, and reload into the new document;
 * the reloaded page says what happened (`showResetNotice`).
 * @param {string} room
 * @param {string} reason the close reason
 * @param {{ clearData: () => Promise<void> }} local the y-indexeddb persistence
 * @param {() => Promise<number|null>} currentEpoch asks the server when the reason does not say
 */
export async function startOver (room, reason, local, currentEpoch) {
  let epoch = epochFromReason(reason)
  if (epoch === null) epoch = await currentEpoch().catch(() => null)
  try {
    // Another tab of this browser may hold the database open: the deletion then
    // completes when it closes (it gets 4410 too); do not wait for it here.
    await Promise.race([local.clearData(), new Promise((resolve) => setTimeout(resolve, 3000))])
  } catch (err) {
    console.warn('samepage: could not delete the local copy', err)
  }
  if (epoch === null) localStorage.removeItem(epochKey(room))
  else localStorage.setItem(epochKey(room), String(epoch))
  sessionStorage.setItem(NOTICE, JSON.stringify({ room, deleted: /delet/i.test(reason) }))
  location.reload()
}

/** After `startOver`'s reload: a banner saying why the document changed (once). */
export function showResetNotice (parent, room) {
  let notice = null
  try {
    notice = JSON.parse(sessionStorage.getItem(NOTICE) || 'null')
  } catch {}
  if (!notice || notice.room !== room) return null
  sessionStorage.removeItem(NOTICE)
  const banner = document.createElement('div')
  banner.className = 'session-banner reset-notice'
  banner.setAttribute('role', 'status')
  const text = document.createElement('span')
  const strong = document.createElement('strong')
  strong.textContent = notice.deleted ? 'This room was deleted' : 'This room was reset'
  text.append(strong, ' — it starts over with a new document. Your copy in this browser, ' +
    'with any changes not saved yet, was discarded.')
  const close = document.createElement('button')
  close.type = 'button'
  close.className = 'button small'
  close.textContent = 'OK'
  close.addEventListener('click', () => banner.remove())
  banner.append(text, close)
  parent.prepend(banner)
  return banner
}
