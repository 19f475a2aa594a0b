// How the page reads the server's final closes and its `access` messages.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { MESSAGE_ACCESS, followAccess, sessionEnd } from '../src/access.js'

test('final closes name why the session ended', () => {
  assert.equal(sessionEnd(4401, 'token expired'), 'expired')
  assert.equal(sessionEnd(4401, 'token revoked'), 'revoked')
  assert.equal(sessionEnd(4403, 'read-only connection sent a document change'), 'readonly')
  assert.equal(sessionEnd(4401, 'invalid token: DecodeError'), 'denied')
  assert.equal(sessionEnd(4403, 'token does not grant this room'), 'denied')
  assert.equal(sessionEnd(4400), 'denied')
})

test('access messages report the permission; garbage is ignored', () => {
  const provider = { messageHandlers: [] }
  const seen = []
  followAccess(provider, (perm) => seen.push(perm))
  const send = (text) => {
    const encoder = encoding.createEncoder()
    encoding.writeVarString(encoder, text)
    provider.messageHandlers[MESSAGE_ACCESS](null, decoding.createDecoder(encoding.toUint8Array(encoder)))
  }
  send('{"perm": "read"}')
  send('not json')
  send('{"perm": "admin"}')
  send('{"perm": "write"}')
  assert.deepEqual(seen, ['read', 'write'])
})
