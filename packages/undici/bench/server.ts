// A node:http server in its own worker thread, so that in the benchmarks the client's event loop and
// the server's do not take turns on one core. workerData: { delayMs }; posts its port when listening.
// Message 'peak' answers (and resets) the most requests it held at once; 'stop' closes it.
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parentPort, workerData } from 'node:worker_threads'

const { delayMs } = workerData as { delayMs: number }
let current = 0
let peak = 0
const server = createServer((_req, res) => {
  if (delayMs === 0) return void res.end('ok')
  peak = Math.max(peak, ++current)
  setTimeout(() => {
    current--
    res.end('ok')
  }, delayMs)
})
server.keepAliveTimeout = 60_000
server.maxRequestsPerSocket = 0
server.listen(0, '127.0.0.1', 1024)
await once(server, 'listening')
parentPort!.postMessage((server.address() as AddressInfo).port)
parentPort!.on('message', (message: string) => {
  if (message === 'peak') {
    parentPort!.postMessage(peak)
    peak = current
    return
  }
  server.closeAllConnections()
  server.close()
  parentPort!.close()
})
