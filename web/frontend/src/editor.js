// The editor page (/r/{room}) and its chrome-less twin (/embed/{room}).
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { IndexeddbPersistence } from 'y-indexeddb'
import { yCollab, yUndoManagerKeymap, ySyncAnnotation } from 'y-codemirror.next'
import { Compartment, EditorState } from '@codemirror/state'
import {
  EditorView, keymap, drawSelection, highlightSpecialChars, dropCursor, placeholder
} from '@codemirror/view'
import { defaultKeymap } from '@codemirror/commands'
import { searchKeymap, highlightSelectionMatches } from '@codemirror/search'
import { markdownLanguage } from '@codemirror/lang-markdown'
import { syntaxHighlighting } from '@codemirror/language'
import { editorTheme, markdownHighlight } from './theme.js'
import { loadIdentity, saveName, cleanName } from './identity.js'
import { SaveTracker } from './saved.js'
import { addJitter, connectionState } from './reconnect.js'
import { PresenceView, TypingSignal } from './presence.js'
import { registerOffline } from './offline.js'
import { tokenFromUrl, claimsOf } from './token.js'
import {
  CLOSE_ROOM_RESET, epochParam, followEpoch, localName, showResetNotice, startOver, storedEpoch
} from './epoch.js'
import { HistoryPanel } from './history-panel.js'
import { FLAG_ACCESS, followAccess, sessionEnd, showSessionBanner } from './access.js'

const $ = (id) => document.getElementById(id)

const CONNECTION_TEXT = {
  connected: 'Connected',
  connecting: 'Connecting…',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  denied: 'No access',
  expired: 'Session expired',
  revoked: 'Access revoked',
  readonly: 'Read-only'
}
const SAVE_TEXT = {
  saved: 'Saved',
  saving: 'Saving…',
  offline: 'Offline — changes kept in this browser',
  denied: 'Not saved — no access to this room',
  readonly: 'Read-only'
}

/** Wire up the document, the providers, the editor and the status UI. */
function main () {
  const body = document.body
  const room = body.dataset.room
  const base = body.dataset.base || ''
  const embed = body.dataset.mode === 'embed'
  const token = tokenFromUrl()
  const claims = token ? claimsOf(token) : {}
  // The token's permission; the server may lower it while we are connected (`access`).
  let readOnly = claims.perm === 'read'

  const doc = new Y.Doc()
  const ytext = doc.getText('content')
  // This browser's copy of the room, per epoch (epoch.js): a reset never merges it back.
  const local = new IndexeddbPersistence(localName(room, storedEpoch(room)), doc)
  const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${base}/ws`
  const params = { epoch: epochParam(room) }
  if (token) params.token = token
  const provider = new WebsocketProvider(wsBase, room, doc, { params, maxBackoffTime: 5000 })
  addJitter(provider)
  followEpoch(provider, room)
  const awareness = provider.awareness

  const me = loadIdentity()
  if (typeof claims.name === 'string' && claims.name) {
    me.name = claims.name.slice(0, 40) // the server knows us by this name
    me.isNew = false
  }
  // A token's user is one person wherever they are; otherwise this browser is.
  if (typeof claims.sub === 'string' && claims.sub) me.id = `user:${claims.sub.slice(0, 64)}`
  awareness.setLocalState({ user: userState(me), typing: false })

  const typing = new TypingSignal(awareness)
  // Writable or not; the History panel also locks it while a past version is shown.
  const access = new Compartment()
  let lockedByHistory = false
  const accessFor = (locked) => [
    EditorState.readOnly.of(readOnly || locked),
    EditorView.editable.of(!(readOnly || locked))
  ]
  const view = new EditorView({
    parent: $('editor'),
    state: EditorState.create({
      doc: ytext.toString(),
      extensions: [
        keymap.of([...yUndoManagerKeymap, ...searchKeymap, ...defaultKeymap]),
        yCollab(ytext, awareness),
        highlightSpecialChars(),
        drawSelection(),
        dropCursor(),
        highlightSelectionMatches(),
        EditorView.lineWrapping,
        markdownLanguage,
        syntaxHighlighting(markdownHighlight),
        editorTheme,
        placeholder(readOnly
          ? 'Nothing here yet.'
          : 'Start writing — everyone in this room sees it as you type.'),
        access.of(accessFor(false)),
        EditorView.contentAttributes.of({ 'aria-label': `Document ${room}` }),
        EditorView.editorAttributes.of({ class: 'live-editor' }),
        EditorView.updateListener.of((update) => {
          const remote = update.transactions.some((tr) => tr.annotation(ySyncAnnotation))
          if (update.docChanged && !remote) typing.poke()
        })
      ]
    })
  })

  // Connection and save status.
  let everConnected = false
  let ended = null // why the server ended the session for good (a 44xx close)
  const connectionEl = $('connection')
  const saveEl = $('save-status')
  let tracker = null
  function render () {
    if (tracker === null) return
    const conn = connectionState(provider, everConnected, ended)
    connectionEl.dataset.state = conn
    connectionEl.querySelector('.label').textContent = CONNECTION_TEXT[conn]
    const save = ended === 'denied'
      ? 'denied'
      : readOnly && (ended !== null || tracker.state !== 'offline') ? 'readonly' : tracker.state
    saveEl.dataset.state = save
    saveEl.textContent = SAVE_TEXT[save]
  }
  provider.on('status', ({ status }) => {
    if (status === 'connected') everConnected = true
    render()
  })
  provider.on('connection-close', () => setTimeout(render))
  const setWritable = (writable) => {
    readOnly = !writable
    view.dispatch({ effects: access.reconfigure(accessFor(lockedByHistory)) })
    render()
  }
  provider.on('closed', ({ code, reason }) => {
    if (code === CLOSE_ROOM_RESET) {
      startOver(room, reason, local, () => fetch(`${base}/api/rooms/${encodeURIComponent(room)}`, {
        headers: token ? { Authorization: `Bearer ${token}` } : {}
      }).then((r) => r.json()).then((info) => info.epoch))
      return
    }
    ended = sessionEnd(code, reason)
    if (ended === 'readonly') readOnly = true
    if (everConnected || ended !== 'denied') showSessionBanner($('editor'), ended)
    setWritable(false)
  })
  followAccess(provider, (perm) => setWritable(perm === 'write'))
  window.addEventListener('online', render)
  window.addEventListener('offline', render)
  tracker = new SaveTracker(doc, provider, render, { flags: FLAG_ACCESS })
  render()
  showResetNotice($('editor'), room)

  // Presence, typing, renaming.
  const rename = () => askName(awareness, me, false)
  const presence = new PresenceView(awareness, {
    list: $('people'),
    typing: $('typing'),
    count: $('people-count'),
    onRename: rename
  })
  if (me.isNew && !embed) askName(awareness, me, true)
  setupCopyLink()
  registerOffline(base)

  // The History panel (the page has one; the embed does not).
  const history = $('history')
    ? new HistoryPanel({
      room,
      base,
      token,
      canWrite: !readOnly,
      doc,
      ytext,
      awareness,
      liveView: view,
      lockLive: (locked) => {
        lockedByHistory = locked
        view.dispatch({ effects: access.reconfigure(accessFor(locked)) })
      }
    })
    : null

  // A handle for debugging in the console (and for the browser tests).
  window.samepage = { doc, ytext, provider, awareness, view, local, tracker, presence, history }
}

/** What others see of us (y-codemirror reads name and colours; `id` groups our tabs). */
const userState = (me) => ({ name: me.name, color: me.color, colorLight: me.colorLight, id: me.id })

/** The name dialog: asked once on a first visit, again when clicking your own chip. */
function askName (awareness, me, firstTime) {
  const dialog = $('name-dialog')
  if (!dialog || typeof dialog.showModal !== 'function') return
  const input = $('name-input')
  input.value = me.name
  $('name-title').textContent = firstTime ? 'Welcome! What should others call you?' : 'Your name'
  // "Keep suggested" is not a submit button: Enter in the field submits the form with
  // its default button, "Save name", and keeps what was typed.
  $('name-keep').onclick = () => dialog.close('cancel')
  dialog.returnValue = ''
  dialog.onclose = () => {
    const name = dialog.returnValue === 'ok' ? cleanName(input.value) : null
    if (name) me.name = name
    if (name || firstTime) saveName(me.name) // dismissing keeps the suggested name
    awareness.setLocalStateField('user', userState(me))
  }
  dialog.showModal()
  input.select()
}

function setupCopyLink () {
  const button = $('copy-link')
  if (!button) return
  button.addEventListener('click', async () => {
    const url = location.origin + location.pathname
    try {
      await navigator.clipboard.writeText(url)
      button.dataset.done = 'true'
      button.querySelector('.label').textContent = 'Link copied'
    } catch {
      window.prompt('Share this link', url)
    }
    setTimeout(() => {
      delete button.dataset.done
      button.querySelector('.label').textContent = 'Share'
    }, 1800)
  })
}

main()
