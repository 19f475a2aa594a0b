// The word diff used to highlight changes against the current version.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { diffTexts, matches, tokenize } from '../src/textdiff.js'

/** Apply the ops to `before`: must give `after`. */
function apply (before, after, ops) {
  let out = ''
  let at = 0
  for (const { from: [i1, i2], to: [j1, j2] } of ops) {
    assert.ok(i1 >= at && i2 >= i1)
    out += before.slice(at, i1) + after.slice(j1, j2)
    at = i2
  }
  return out + before.slice(at)
}

test('tokens cover the text', () => {
  const [tokens, starts] = tokenize('Hello, wörld  42!')
  assert.deepEqual(tokens, ['Hello', ',', ' ', 'wörld', '  ', '42', '!'])
  assert.equal(starts.at(-1), 17)
})

test('identical texts have no changes', () => {
  assert.deepEqual(diffTexts('same', 'same'), [])
})

test('a replaced word is shown whole', () => {
  const ops = diffTexts('The quick fox', 'The quiet fox')
  assert.deepEqual(ops, [{ from: [4, 9], to: [4, 9] }])
})

test('a word typed further is only an addition; a shortened one only a removal', () => {
  assert.deepEqual(diffTexts('Some text he', 'Some text here we go.'), [{ from: [12, 12], to: [12, 21] }])
  assert.deepEqual(diffTexts('Some texts', 'Some text'), [{ from: [9, 10], to: [9, 9] }])
})

test('insertions and deletions in several places', () => {
  const before = '# Plan\n\nBring slides.\nBook the room.\n'
  const after = '# Plan for Friday\n\nBring the slides.\n'
  const ops = diffTexts(before, after)
  assert.equal(apply(before, after, ops), after)
  assert.ok(ops.length >= 2)
})

test('random edits always reproduce the target', () => {
  let seed = 7
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  const words = ['a', 'bb', 'cat', ' ', '\n', ',', 'dog', 'é', '  ']
  for (let round = 0; round < 300; round++) {
    const make = (n) => Array.from({ length: n }, () => words[rnd(words.length)]).join('')
    const before = make(rnd(30))
    const after = rnd(2) ? make(rnd(30)) : before.slice(0, rnd(before.length + 1)) + make(rnd(5)) + before.slice(rnd(before.length + 1))
    assert.equal(apply(before, after, diffTexts(before, after)), after, `${JSON.stringify(before)} → ${JSON.stringify(after)}`)
  }
})

test('too many edits fall back to one replacement', () => {
  const a = Array.from({ length: 50 }, (_, i) => `w${i}`)
  const b = Array.from({ length: 50 }, (_, i) => `v${i}`)
  assert.equal(matches(a, b, 10), null)
  const before = a.join(' ')
  const after = b.join(' ')
  const ops = diffTexts(before, after, 10)
  assert.equal(ops.length, 1)
  assert.equal(apply(before, after, ops), after)
})
