import { SyncClient, connectAll } from './client.js'
const n = Number(process.argv[2])
const cs = Array.from({length: n}, (_, i) => new SyncClient({ url: 'ws://127.0.0.1:18778/'+process.argv[3], room: process.argv[3], flavor: 'y' }))
let r = await connectAll(cs.slice(0,1), 1)
r = await connectAll(cs.slice(1), 50)
console.log(n, 'failures', r.failures.length, r.failures[0])
for (const c of cs) c.close(); process.exit(0)
