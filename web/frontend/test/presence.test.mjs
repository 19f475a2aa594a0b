// Presence list and typing text.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { peopleOf, typingText } from '../src/presence.js'
import { roomNameFrom, ago } from '../src/rooms.js'
import { initials, cleanName } from '../src/identity.js'

function awareness (states, clientID, meta = new Map()) {
  return { clientID, meta, getStates: () => new Map(states) }
}

test('typing text for one, two, three and more people', () => {
  assert.equal(typingText([]), '')
  assert.equal(typingText(['Alice']), 'Alice is typing…')
  assert.equal(typingText(['Alice', 'Bob']), 'Alice and Bob are typing…')
  assert.equal(typingText(['A', 'B', 'C']), 'A, B and C are typing…')
  assert.equal(typingText(['A', 'B', 'C', 'D']), 'A, B and 2 others are typing…')
})

test('people: local first, states without a user skipped, stale typing ignored', () => {
  const now = 100_000
  const meta = new Map([[1, { lastUpdated: now }], [2, { lastUpdated: now - 60_000 }],
    [3, { lastUpdated: now }]])
  const people = peopleOf(awareness([
    [2, { user: { name: 'Zed', color: '#123456' }, typing: true }],
    [3, { user: { name: 'Bob', color: 'red;background:url(x)' }, typing: true }],
    [4, {}],
    [1, { user: { name: 'Me', color: '#abcdef' }, typing: false }]
  ], 1, meta), now)
  assert.deepEqual(people.map((p) => [p.name, p.local, p.typing, p.color]), [
    ['Me', true, false, '#abcdef'],
    ['Bob', false, true, '#64748b'],
    ['Zed', false, false, '#123456']
  ])
})

test('room names from what people type', () => {
  assert.equal(roomNameFrom('Team notes'), 'Team-notes')
  assert.equal(roomNameFrom('  q3.plan_v2 '), 'q3.plan_v2')
  assert.equal(roomNameFrom('-x'), null)
  assert.equal(roomNameFrom('ümlaut'), 'mlaut')
  assert.equal(roomNameFrom('x'.repeat(129)), null)
  assert.equal(roomNameFrom(''), null)
})

test('relative times and initials', () => {
  const now = Date.parse('2026-11-25T12:00:00Z')
  assert.equal(ago('2026-11-25T11:59:50Z', now), 'just now')
  assert.equal(ago('2026-11-25T11:50:00Z', now), '10 min ago')
  assert.equal(ago('2026-11-25T09:00:00Z', now), '3 h ago')
  assert.equal(ago(null, now), 'never')
  assert.equal(initials('Calm Otter'), 'CO')
  assert.equal(initials('bob'), 'BO')
  assert.equal(cleanName('  a   b  '), 'a b')
  assert.equal(cleanName('   '), null)
})

test('token claims are read without verifying', async () => {
  const { claimsOf } = await import('../src/token.js')
  const payload = Buffer.from(JSON.stringify({ perm: 'read', name: 'Zoë' })).toString('base64url')
  assert.deepEqual(claimsOf(`x.${payload}.sig`), { perm: 'read', name: 'Zoë' })
  assert.deepEqual(claimsOf('garbage'), {})
})

test('one person in several tabs is one entry with a tab count', async () => {
  const { groupPeople, tabsLabel } = await import('../src/presence.js')
  const now = 100_000
  const me = { name: 'Grace', color: '#abcdef', id: 'b1' }
  const alice = { name: 'Alice', color: '#123456', id: 'b2' }
  const people = peopleOf(awareness([
    [1, { user: me }], [5, { user: me }], [7, { user: { ...me, name: 'Grace (old tab)' } }],
    [2, { user: alice, typing: true }], [3, { user: alice }],
    [4, { user: { name: 'Bob', color: '#654321' } }], [6, { user: { name: 'Bob', color: '#654321' } }]
  ], 5, new Map()), now)
  const groups = groupPeople(people)
  assert.deepEqual(groups.map((g) => [g.name, g.local, g.tabs, g.typing]), [
    ['Grace', true, 3, false], // this tab's name wins for the local person
    ['Alice', false, 2, true],
    ['Bob', false, 1, false], // no id: each client is its own person
    ['Bob', false, 1, false]
  ])
  assert.deepEqual(groups[0].clientIds.sort(), [1, 5, 7])
  assert.equal(tabsLabel(3), '3 tabs')
  assert.equal(tabsLabel(1), '')
})
