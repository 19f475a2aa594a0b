// Hocuspocus 3.x with no extensions (no persistence): `node hocuspocus.mjs PORT`.
import { Server } from '@hocuspocus/server'

const port = Number(process.argv[2] || 1234)
const server = new Server({ port, address: '127.0.0.1', quiet: true, stopOnSignals: true })
await server.listen()
console.log(`hocuspocus listening on 127.0.0.1:${port}`)
