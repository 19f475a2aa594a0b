// The editor's look: a calm document page, remote carets with always-visible name labels.
import { EditorView } from '@codemirror/view'
import { HighlightStyle } from '@codemirror/language'
import { tags } from '@lezer/highlight'

export const editorTheme = EditorView.theme({
  '&': { height: '100%', fontSize: '17px', backgroundColor: 'transparent' },
  '&.cm-focused': { outline: 'none' },
  '.cm-scroller': {
    fontFamily: 'var(--font-text)',
    lineHeight: '1.7',
    overflow: 'auto'
  },
  // Room above the first line so a remote caret's label there is not clipped.
  '.cm-content': {
    padding: 'calc(var(--pad-y) + 1.2em) var(--pad-x) 40vh',
    maxWidth: 'var(--paper-width)',
    margin: '0 auto',
    caretColor: 'var(--ink)'
  },
  '.cm-line': { padding: '0' },
  '.cm-cursor, .cm-dropCursor': { borderLeft: '2px solid var(--ink)' },
  '.cm-placeholder': { color: 'var(--muted)', fontStyle: 'italic' },
  '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground':
    { background: 'var(--selection) !important' },
  '.cm-selectionMatch': { backgroundColor: 'var(--match)' },
  // Remote carets: a 2px bar in the user's colour and a name flag that is always shown.
  '.cm-ySelectionCaret': { borderLeftWidth: '1px', borderRightWidth: '1px' },
  '.cm-ySelectionCaretDot': { display: 'none' },
  '.cm-ySelectionInfo': {
    opacity: '1 !important',
    top: '-1.45em',
    left: '-1px',
    padding: '1px 6px',
    borderRadius: '4px 4px 4px 0',
    fontFamily: 'var(--font-ui)',
    fontSize: '12px',
    fontWeight: '600',
    lineHeight: '1.35',
    letterSpacing: '0.01em',
    boxShadow: '0 1px 2px rgb(0 0 0 / 0.18)',
    pointerEvents: 'none'
  },
  '.cm-panels': { backgroundColor: 'var(--surface)', color: 'var(--ink)' },
  '.cm-panels-bottom': { borderTop: '1px solid var(--line)' },
  '.cm-searchMatch': { backgroundColor: 'var(--match)', outline: '1px solid var(--accent)' }
})

/** Markdown shown as a document: larger bold headings, quiet syntax marks. */
export const markdownHighlight = HighlightStyle.define([
  { tag: tags.heading1, fontSize: '1.6em', fontWeight: '700', lineHeight: '1.3' },
  { tag: tags.heading2, fontSize: '1.35em', fontWeight: '700' },
  { tag: tags.heading3, fontSize: '1.15em', fontWeight: '700' },
  { tag: [tags.heading4, tags.heading5, tags.heading6], fontWeight: '700' },
  { tag: tags.strong, fontWeight: '700' },
  { tag: tags.emphasis, fontStyle: 'italic' },
  { tag: tags.strikethrough, textDecoration: 'line-through' },
  { tag: [tags.link, tags.url], color: 'var(--accent)' },
  { tag: tags.monospace, fontFamily: 'var(--font-mono)', fontSize: '0.92em' },
  { tag: tags.quote, color: 'var(--muted)', fontStyle: 'italic' },
  { tag: [tags.processingInstruction, tags.meta, tags.contentSeparator], color: 'var(--faint)' }
])
