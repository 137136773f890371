/**
 * A room worker: owns the rooms the hash ring gives it. Each room has its own mailbox, drained one
 * message at a time (messages of a room are stored in order; a busy room only delays itself). Storing
 * takes a permit of the database pool shared by every worker.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { parentPort, workerData } from 'node:worker_threads'
import { MAX_CAPACITY, type Mailbox, MailboxRegistry } from '@beamline/mailbox'
import { PressureMonitor } from '@beamline/pressure'
import { HashRing } from '@beamline/ring'
import { Semaphore } from '@beamline/semaphore'
import type { ChatMessage, StoreResult, WorkerConfig } from './messages.js'

const config = workerData as WorkerConfig
const port = parentPort!
// The same shared memory as the main thread: registrations here show up in its stats and exporter.
const registry = MailboxRegistry.attach(config.registry)
const ring = HashRing.attach(config.ring)
const db = Semaphore.attach(config.db)
const pressure = PressureMonitor.attach(config.pressure) // read-only: one atomic load per `level`

const rooms = new Map<string, Mailbox<ChatMessage>>()

const reply = (result: StoreResult) => port.postMessage(result)
/** The pretend database: a query holds one pool connection for `dbQueryMs`. */
const query = () => sleep(config.dbQueryMs)

function roomMailbox(room: string): Mailbox<ChatMessage> {
  let mailbox = rooms.get(room)
  if (mailbox) return mailbox
  mailbox = registry.mailbox<ChatMessage>(`room:${room}`, {
    group: 'rooms',
    // Protected: a room holds at most 64 messages, none older than 500 ms (the client gave up by then
    // anyway). Unprotected: the usual unbounded array, as most services have.
    ...(config.protect ? { capacity: 64, maxAgeMs: 500 } : { capacity: MAX_CAPACITY }),
    onDrop: (message, reason) => reply({ id: message.id, status: 503, reason: `room queue ${reason}` }),
  })
  mailbox.consume(([message]) => store(message!), { maxDemand: 1 })
  rooms.set(room, mailbox)
  return mailbox
}

async function store(message: ChatMessage): Promise<void> {
  if (config.protect) {
    // Wait at most 250 ms for a connection (and fail at once when 1000 callers already wait).
    try {
      await db.acquire({ timeoutMs: 250 })
    } catch (err) {
      reply({ id: message.id, status: 503, reason: (err as { code?: string }).code ?? 'db' })
      return
    }
  } else {
    await db.acquire()
  }
  try {
    await query() // INSERT INTO messages …
  } finally {
    db.release()
  }
  reply({ id: message.id, status: 200 })
  // The search index can catch up later: under pressure it is skipped, and when protected it never
  // waits for a connection (tryCall fails fast). This is the work that `pressure.level` sheds inside.
  if (!config.protect) {
    await db.acquire()
    await query().finally(() => db.release())
  } else if (pressure.level === 0) {
    await db.tryCall(query) // UPDATE search_index …
  }
}

port.on('message', (message: ChatMessage) => {
  Atomics.add(config.received, 0, 1)
  // The main thread routes with the same ring; after a ring change a message can still arrive here.
  if (ring.get(message.room) !== config.workerId) {
    reply({ id: message.id, status: 421, reason: 'room moved' })
  } else if (!roomMailbox(message.room).push(message)) {
    reply({ id: message.id, status: 503, reason: 'room queue full' })
  }
})
