#!/usr/bin/env node
/**
 * Runs the chat service on its own:
 *   node dist/src/main.js --apns http://127.0.0.1:8001 --fcm http://127.0.0.1:8002 \
 *        --socket /tmp/chat.sock [--port 8080] [--no-protection] [--service NAME] [--instance ID] \
 *        [--workers 2] [--members 100]
 * Prints one JSON line `{ "url", "exporterUrl" }` (or sends it over IPC when forked), then serves
 * until SIGTERM/SIGINT, or until the parent that forked it goes away.
 */
// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'
import { parseArgs } from 'node:util'
import { startChatService } from './service.js'

const { values } = parseArgs({
  options: {
    apns: { type: 'string' },
    fcm: { type: 'string' },
    socket: { type: 'string' },
    port: { type: 'string', default: '0' },
    'no-protection': { type: 'boolean', default: false },
    'db-query-ms': { type: 'string', default: '40' },
    workers: { type: 'string', default: '2' },
    members: { type: 'string', default: '100' },
    service: { type: 'string' },
    instance: { type: 'string' },
  },
})
if (!values.apns || !values.fcm || !values.socket) {
  process.stderr.write(
    'usage: main.js --apns URL --fcm URL --socket PATH [--port N] [--no-protection] [--service NAME] [--instance ID] [--workers N] [--members N]\n',
  )
  process.exit(2)
}

const service = await startChatService({
  providers: { apns: values.apns, fcm: values.fcm },
  exporterSocket: values.socket,
  port: Number(values.port),
  protect: !values['no-protection'],
  dbQueryMs: Number(values['db-query-ms']),
  workers: Number(values.workers),
  membersPerRoom: Number(values.members),
  ...(values.service === undefined ? {} : { service: values.service }),
  ...(values.instance === undefined ? {} : { instance: values.instance }),
})
const ready = { url: service.url, exporterUrl: service.exporterUrl }
if (process.send) process.send({ ready })
else process.stdout.write(`${JSON.stringify(ready)}\n`)

let stopping = false
async function stop(): Promise<void> {
  if (stopping) return
  stopping = true
  setTimeout(() => process.exit(1), 5000).unref() // never hang on the way out
  await service.close()
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
process.once('disconnect', stop) // forked: the parent died or let go of us
