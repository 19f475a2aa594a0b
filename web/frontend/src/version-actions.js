// The History panel's actions on versions: name one, restore one (after a
// confirmation, with Undo), copy one into a new room.
import { formatWhen } from './timeline.js'
import { roomUrl } from './copy-version.js'

const $ = (id) => document.getElementById(id)

export class VersionActions {
  constructor (panel) { this.panel = panel }

  async name (raw) {
    const label = raw.trim()
    if (!label) return this.panel.nameInput.focus()
    try {
      await this.panel.api.nameVersion(label, this.panel.viewing ? this.panel.seq : null)
      this.panel.nameForm.hidden = true
      this.panel.nameInput.value = ''
      this.panel.say(`Named “${label}”.`)
      await this.panel.refresh()
    } catch (err) {
      this.panel.say(`Could not name the version (${err.message}).`, 'error')
    }
  }

  confirmRestore () {
    if (!this.panel.viewing) return
    const step = this.panel.step && this.panel.step.seq === this.panel.seq ? this.panel.step : { seq: this.panel.seq }
    const dialog = $('restore-dialog')
    $('restore-title').textContent = `Restore version ${step.seq}?`
    $('restore-when').textContent = (step.time ? formatWhen(step.time) : `version ${step.seq}`) +
      (step.author ? ` by ${step.author}` : '')
    dialog.onclose = () => {
      if (dialog.returnValue === 'restore') this.restore(step.seq)
    }
    dialog.returnValue = ''
    dialog.showModal()
  }

  async copy (seq, to) {
    try {
      const result = await this.panel.api.fork(seq, to)
      this.panel.say(`Copied version ${result.from.seq} to “${result.room}”.`, 'ok', {
        label: 'Open the copy',
        run: () => location.assign(roomUrl(result.room))
      })
    } catch (err) {
      this.panel.say(`Could not make a copy (${err.message}).`, 'error')
    }
  }


  async restore (seq, undo = false) {
    try {
      const me = this.panel.awareness?.getLocalState()?.user?.name
      const result = await this.panel.api.restore(seq, typeof me === 'string' ? me : null)
      this.panel.backToLive()
      if (!result.changed) this.panel.say(`Version ${seq} is already the current text.`)
      else if (undo) this.panel.say('Restore undone.')
      else {
        this.panel.say(`Restored version ${seq}.`, 'ok', {
          label: 'Undo',
          run: () => this.restore(result.seq - 1, true)
        })
      }
      await this.panel.refresh()
    } catch (err) {
      this.panel.say(`Could not restore (${err.message}).`, 'error')
    }
  }
}
