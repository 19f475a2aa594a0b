// Who the local user is: a name and a colour, remembered in localStorage.

const NAME_KEY = 'samepage:name'
const COLOR_KEY = 'samepage:color'
const ID_KEY = 'samepage:id'

/** Colours readable as caret, label background (white text) and light selection. */
export const PALETTE = [
  '#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed',
  '#dc2626', '#0891b2', '#65a30d', '#c026d3', '#ea580c'
]

const ADJECTIVES = ['Amber', 'Brisk', 'Calm', 'Dapper', 'Eager', 'Fuzzy', 'Gentle', 'Happy',
  'Jolly', 'Keen', 'Lucky', 'Mellow', 'Nimble', 'Plucky', 'Quiet', 'Swift', 'Witty']
const ANIMALS = ['Otter', 'Fox', 'Heron', 'Lynx', 'Panda', 'Robin', 'Koala', 'Badger',
  'Falcon', 'Gecko', 'Marten', 'Puffin', 'Seal', 'Wren', 'Yak', 'Ibex', 'Owl']

const pick = (list) => list[Math.floor(Math.random() * list.length)]

function storage () {
  try {
    return window.localStorage
  } catch {
    return null // storage disabled (e.g. some embedded contexts)
  }
}

/** A friendly default like "Calm Otter". */
export const defaultName = () => `${pick(ADJECTIVES)} ${pick(ANIMALS)}`

/** Trim and cap a user-entered name; empty becomes null. */
export function cleanName (raw) {
  const name = String(raw || '').replace(/\s+/g, ' ').trim().slice(0, 40)
  return name || null
}

/** `#rrggbb` → `#rrggbb33`: the translucent variant used for selections. */
export const lighten = (color) => color + '33'

/**
 * The stored identity, creating a default one on first use.
 * `isNew` tells the page to ask for a name once.
 */
export function loadIdentity () {
  const store = storage()
  let name = cleanName(store?.getItem(NAME_KEY))
  const isNew = name === null
  if (name === null) name = defaultName()
  let color = store?.getItem(COLOR_KEY)
  if (!color || !/^#[0-9a-f]{6}$/i.test(color)) {
    color = pick(PALETTE)
    store?.setItem(COLOR_KEY, color)
  }
  return { name, color, colorLight: lighten(color), isNew, id: browserId() }
}

/** This browser's id (shared by its tabs, so one person in three tabs is one person). */
export function browserId () {
  const store = storage()
  let id = store?.getItem(ID_KEY)
  if (!id || !/^[0-9a-z]{8,32}$/.test(id)) {
    id = Array.from({ length: 16 }, () => Math.floor(Math.random() * 36).toString(36)).join('')
    store?.setItem(ID_KEY, id)
  }
  return id
}

/** Remember the chosen name. */
export function saveName (name) {
  storage()?.setItem(NAME_KEY, name)
}

/** Up to two letters for an avatar: "Calm Otter" → "CO". */
export function initials (name) {
  const words = name.split(' ').filter(Boolean)
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : name.slice(0, 2)
  return letters.toUpperCase()
}
