// Room names and times, as the landing page shows them.

const ROOM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

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
