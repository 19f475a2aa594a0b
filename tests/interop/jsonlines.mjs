// The JSON-lines loop of the Node helpers the Python tests drive (driver.mjs, docgen.mjs):
// one command per stdin line {"id", "op", ...args}, one reply per stdout line
// {"id", "ok": true, "result"} or {"id", "ok": false, "error"}; a {"ready": true} line first.
import readline from 'node:readline'

export const serve = (handlers, onClose = () => {}) => {
  const send = (message) => process.stdout.write(JSON.stringify(message) + '\n')
  const lines = readline.createInterface({ input: process.stdin })
  lines.on('line', async (line) => {
    let id = null
    try {
      const command = JSON.parse(line)
      id = command.id
      const handler = handlers[command.op]
      if (handler === undefined) throw new Error(`unknown op ${command.op}`)
      send({ id, ok: true, result: await handler(command) })
    } catch (error) {
      send({ id, ok: false, error: String(error && error.stack ? error.stack : error) })
    }
  })
  // stdin closed (the test process went away): leave, never linger as an orphan
  lines.on('close', () => {
    onClose()
    process.exit(0)
  })
  send({ ready: true, versions: { node: process.version } })
}
