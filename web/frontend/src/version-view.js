// The read-only editor that shows a past version. It is a second CodeMirror view with
// its own plain document: the live view and its Y.Text binding are never touched, so no
// keystroke here can reach the room.
import { EditorState, StateEffect, StateField } from '@codemirror/state'
import { Decoration, EditorView, WidgetType, highlightSpecialChars } from '@codemirror/view'
import { markdownLanguage } from '@codemirror/lang-markdown'
import { syntaxHighlighting } from '@codemirror/language'
import { editorTheme, markdownHighlight } from './theme.js'

const MAX_WIDGET_CHARS = 600

/** Set the change highlights: [{from: [i1, i2], to: [j1, j2]}] against `current`, or null. */
const setChanges = StateEffect.define()

/** Text present only in the current version, shown inline where it would go. */
class AddedWidget extends WidgetType {
  constructor (text) {
    super()
    this.text = text
  }

  eq (other) { return other.text === this.text }

  toDOM () {
    const el = document.createElement('ins')
    el.className = 'cm-hist-added'
    el.textContent = this.text.length > MAX_WIDGET_CHARS
      ? this.text.slice(0, MAX_WIDGET_CHARS) + '…'
      : this.text
    el.title = 'Added since this version'
    return el
  }

  ignoreEvent () { return true }
}

const recentMark = Decoration.mark({ class: 'cm-hist-recent' })

const removedMark = Decoration.mark({
  class: 'cm-hist-removed',
  attributes: { title: 'Removed since this version' }
})

const changesField = StateField.define({
  create: () => Decoration.none,
  update (value, tr) {
    for (const effect of tr.effects) {
      if (!effect.is(setChanges)) continue
      if (!effect.value) return Decoration.none
      if (effect.value.recent) return Decoration.set([recentMark.range(...effect.value.recent)])
      const { ops, current } = effect.value
      const ranges = []
      for (const { from: [i1, i2], to: [j1, j2] } of ops) {
        if (i2 > i1) ranges.push(removedMark.range(i1, i2))
        if (j2 > j1) {
          ranges.push(Decoration.widget({ widget: new AddedWidget(current.slice(j1, j2)), side: 1 }).range(i2))
        }
      }
      return Decoration.set(ranges, true)
    }
    return tr.docChanged ? Decoration.none : value
  },
  provide: (field) => EditorView.decorations.from(field)
})

/** A read-only CodeMirror view for past versions, with change highlights. */
export class VersionView {
  constructor (parent, label) {
    this.view = new EditorView({
      parent,
      state: EditorState.create({
        doc: '',
        extensions: [
          highlightSpecialChars(),
          EditorView.lineWrapping,
          markdownLanguage,
          syntaxHighlighting(markdownHighlight),
          editorTheme,
          EditorState.readOnly.of(true),
          EditorView.editable.of(false),
          EditorView.contentAttributes.of({ 'aria-label': label, 'aria-readonly': 'true' }),
          EditorView.editorAttributes.of({ class: 'version-editor' }),
          changesField
        ]
      })
    })
  }

  /** The text shown (exactly the version's, without the highlight widgets). */
  get text () { return this.view.state.doc.toString() }

  /** Show `text`, changing only the part that differs (the scroll position stays);
   * with `follow`, scroll to the change (playback). Clears the highlights. */
  show (text, follow = false) {
    const doc = this.view.state.doc
    const old = doc.length < 2_000_000 ? doc.toString() : null
    let start = 0
    let endOld = doc.length
    let endNew = text.length
    if (old !== null) {
      const limit = Math.min(old.length, text.length)
      while (start < limit && old.charCodeAt(start) === text.charCodeAt(start)) start++
      while (endOld > start && endNew > start &&
        old.charCodeAt(endOld - 1) === text.charCodeAt(endNew - 1)) { endOld--; endNew-- }
      if (start === endOld && start === endNew) return this.highlight(null)
    }
    // During playback the text just typed is marked, and kept in view.
    const recent = follow && endNew > start ? { recent: [start, endNew] } : null
    const effects = [setChanges.of(recent)]
    if (follow) effects.push(EditorView.scrollIntoView(endNew, { y: 'nearest', yMargin: 60 }))
    this.view.dispatch({ changes: { from: start, to: endOld, insert: text.slice(start, endNew) }, effects })
  }

  /** Highlight `ops` (from textdiff.diffTexts(shown, current)), or clear with null. */
  highlight (ops, current = '') {
    this.view.dispatch({ effects: setChanges.of(ops && ops.length ? { ops, current } : null) })
  }

  destroy () { this.view.destroy() }
}
