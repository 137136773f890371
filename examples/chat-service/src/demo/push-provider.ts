/**
 * A pretend push provider (APNs and FCM on two ports), forked by the demo. Like a real provider it
 * serves each client a limited number of requests at once (4) and queues the rest, so when its
 * latency degrades its throughput drops: 4 / latency (800/s at 5 ms, 10/s at 400 ms). The parent changes the latency over IPC:
 * `{ latencyMs: { apns: 250 } }`.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { DEVICES, type Device } from '../messages.js'

const CONCURRENCY = 4
const latencyMs: Record<Device, number> = { apns: 5, fcm: 5 }

function provider(device: Device): Server {
  let busy = 0
  const waiting: (() => void)[] = []
  const release = () => {
    const next = waiting.shift()
    if (next) next()
    else busy--
  }
  return createServer((req, res) => {
    req.resume() // the payload does not matter
    const serve = () => {
      setTimeout(() => {
        res.end('{"delivered":true}')
        release()
      }, latencyMs[device])
    }
    if (busy < CONCURRENCY) {
      busy++
      serve()
    } else waiting.push(serve)
  })
}

const urls = {} as Record<Device, string>
const servers = DEVICES.map((device) => {
  const server = provider(device)
  server.keepAliveTimeout = 30_000
  return { device, server }
})
for (const { device, server } of servers) {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  urls[device] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

process.on('message', (msg: { latencyMs?: Partial<Record<Device, number>> }) => {
  Object.assign(latencyMs, msg.latencyMs)
})
const stop = () => process.exit(0)
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
process.once('disconnect', stop)
process.send!({ ready: { urls } })
