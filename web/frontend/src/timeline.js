// The History panel's timeline: edit sessions and named versions, newest first, and the
// words and times it shows.

/** Sessions ({author, first_seq, last_seq, start, end, updates}) and named versions
 * ({seq, label, author, time}) as one list, newest first; a label sorts above the
 * session that ends at its seq. */
export function timelineEntries (sessions, versions) {
  const entries = [
    ...versions.map((v) => ({ kind: 'version', seq: v.seq, label: v.label, author: v.author, time: v.time })),
    ...sessions.map((s) => ({
      kind: 'session',
      seq: s.last_seq,
      firstSeq: s.first_seq,
      author: s.author,
      time: s.end,
      start: s.start,
      updates: s.updates
    }))
  ]
  return entries.sort((a, b) => (b.seq - a.seq) || ((a.kind === 'version') ? -1 : 1) - ((b.kind === 'version') ? -1 : 1))
}

/** Does the entry cover version `seq`? */
export function entryHolds (entry, seq) {
  return entry.kind === 'session' ? entry.firstSeq <= seq && seq <= entry.seq : entry.seq === seq
}

/** "1 edit", "12 edits". */
export const editsLabel = (n) => `${n} ${n === 1 ? 'edit' : 'edits'}`

const sameDay = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() &&
  a.getDate() === b.getDate()

/** "Today 21:03", "Yesterday 09:15", "25 Nov 21:03", "25 Nov 2025 21:03". */
export function formatWhen (iso, now = new Date(), locale = undefined) {
  const when = new Date(iso)
  if (Number.isNaN(when.getTime())) return ''
  const time = when.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' })
  if (sameDay(when, now)) return `Today ${time}`
  const yesterday = new Date(now)
  yesterday.setDate(now.getDate() - 1)
  if (sameDay(when, yesterday)) return `Yesterday ${time}`
  const date = when.toLocaleDateString(locale, {
    day: 'numeric',
    month: 'short',
    year: when.getFullYear() === now.getFullYear() ? undefined : 'numeric'
  })
  return `${date} ${time}`
}

/** The banner: "Viewing version 42 — Today 21:03 by Alice". */
export function bannerText (step, now = new Date(), locale = undefined) {
  const when = step.time ? formatWhen(step.time, now, locale) : ''
  return `Viewing version ${step.seq}${when ? ` — ${when}` : ''}${step.author ? ` by ${step.author}` : ''}`
}

export const SPEEDS = { 1: 1, 4: 4, 16: 16 }
const IDLE_CAP_MS = 1500 // a pause longer than this replays as this long (before speed-up)
const UNIFORM_TOTAL_MS = 8000 // "uniform" plays the whole range in about this long
const UNIFORM_MIN_MS = 20
const UNIFORM_MAX_MS = 250

/** How long to show step `from` before moving to step `to` during playback. */
export function stepDelay (steps, from, to, speed, total) {
  if (speed === 'uniform') {
    return Math.min(UNIFORM_MAX_MS, Math.max(UNIFORM_MIN_MS, UNIFORM_TOTAL_MS / Math.max(1, total)))
  }
  const gap = Date.parse(steps[to].time) - Date.parse(steps[from].time)
  const real = Number.isFinite(gap) ? Math.max(0, Math.min(gap, IDLE_CAP_MS)) : 100
  return real / (SPEEDS[speed] || 1)
}
