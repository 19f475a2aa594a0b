// Access that changes while the page is open (docs/security.md): the server closes the
// socket with 4401 when the token expires or is revoked, with 4403 when a write is refused
// (the grant was lowered to read-only), and tells a subscribed page its current
// permission with the `access` extension message (103, docs/PROTOCOL.md) so the editor
// turns read-only before the user types. y-websocket stops reconnecting on 4400-4499.
import * as decoding from 'lib0/decoding'

export const MESSAGE_ACCESS = 103
export const FLAG_ACCESS = 4

const ENDINGS = {
  expired: { title: 'Session expired', detail: 'Your access to this room has expired. Reload to sign in again.' },
  revoked: { title: 'Access revoked', detail: 'Your access to this room was revoked.' },
  readonly: { title: 'Read-only now', detail: 'Your access to this room was changed to read-only; your last change was not saved.' },
  denied: { title: 'No access', detail: 'This link does not give access to this room.' }
}

/**
 * Why the server ended the session, from a final close: 'expired', 'revoked',
 * 'readonly' or 'denied' (any other 44xx).
 * @param {number} code
 * @param {string} [reason]
 */
export function sessionEnd (code, reason = '') {
  if (code === 4401 && /expired/i.test(reason)) return 'expired'
  if (code === 4401 && /revoked/i.test(reason)) return 'revoked'
  if (code === 4403 && /read-only/i.test(reason)) return 'readonly'
  return 'denied'
}

/** The banner's title and explanation for an ending. */
export const endingText = (ending) => ENDINGS[ending] || ENDINGS.denied

/**
 * Show a banner over the editor saying the session ended, with a Reload button
 * (idempotent: a second ending replaces the first).
 * @param {HTMLElement} parent
 * @param {string} ending
 */
export function showSessionBanner (parent, ending) {
  let banner = parent.querySelector('.session-banner')
  if (!banner) {
    banner = document.createElement('div')
    banner.className = 'session-banner'
    banner.setAttribute('role', 'alert')
    const text = document.createElement('span')
    text.className = 'session-text'
    const button = document.createElement('button')
    button.type = 'button'
    button.className = 'button small primary session-reload'
    button.textContent = 'Reload'
    button.addEventListener('click', () => location.reload())
    banner.append(text, button)
    parent.prepend(banner)
  }
  const { title, detail } = endingText(ending)
  banner.dataset.ending = ending
  const text = banner.querySelector('.session-text')
  text.replaceChildren()
  const strong = document.createElement('strong')
  strong.textContent = title
  text.append(strong, ' — ' + detail)
  return banner
}

/**
 * Follow the server's `access` messages on `provider`: `onChange(perm)` gets 'read' or
 * 'write' whenever the server says the connection's permission changed.
 */
export function followAccess (provider, onChange) {
  provider.messageHandlers[MESSAGE_ACCESS] = (_encoder, decoder) => {
    let message
    try {
      message = JSON.parse(decoding.readVarString(decoder))
    } catch {
      return
    }
    if (message && (message.perm === 'read' || message.perm === 'write')) onChange(message.perm)
  }
}
