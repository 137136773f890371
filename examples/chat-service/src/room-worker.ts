/**
 * A room worker: owns the rooms and the sessions the hash ring gives it. Each room has its own
 * mailbox, drained one message at a time (messages of a room are stored in order; a busy room only
 * delays itself). Storing takes a permit of the database pool shared by every worker; a stored
 * message is then broadcast to the room's members with one Manifold send — one frame per worker
 * owning some of them, whatever the number of members — and every worker delivers the frames of its
 * own channel to its sessions.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { parentPort, workerData } from 'node:worker_threads'
import { Manifold, type RecipientGroup } from '@beamline/fanout'
import { MAX_CAPACITY, type Mailbox, MailboxRegistry } from '@beamline/mailbox'
import { PressureMonitor } from '@beamline/pressure'
import { HashRing } from '@beamline/ring'
import { Semaphore } from '@beamline/semaphore'
import { type Counter, count as countIn, epochMs, memberIds } from './fanout-stats.js'
import type {
  ChatMessage,
  MemberState,
  MembersQuery,
  MembersReply,
  RoomDelivery,
  StoreResult,
  WorkerConfig,
  WorkerMail,
} from './messages.js'

const config = workerData as WorkerConfig
const port = parentPort!
// The same shared memory as the main thread: registrations here show up in its stats and exporter.
const registry = MailboxRegistry.attach(config.registry)
const ring = HashRing.attach(config.ring)
const db = Semaphore.attach(config.db)
const pressure = PressureMonitor.attach(config.pressure) // read-only: one atomic load per `level`
// A producer into every worker's channel (broadcasts) and the consumer of its own (posts, deliveries).
const manifold = Manifold.attach<WorkerMail, string>(config.manifold, {
  owners: ring,
  workerIndex: config.workerIndex,
})
const count = (counter: Counter, n?: number) => countIn(config.counters, config.workerIndex, counter, n)

interface Room {
  readonly mailbox: Mailbox<ChatMessage>
  /** The members, grouped by owner and encoded once: a broadcast then costs one copy per worker. */
  members: RecipientGroup<string> | undefined
  /** Messages stored so far; the next one's seq is this + 1. */
  stored: number
}
const rooms = new Map<string, Room>()

/** A member's connection, held by the worker the ring gives its id. */
interface Session {
  readonly room: string
  delivered: number
  lastSeq: number
  outOfOrder: number
}
const sessions = new Map<string, Session>()

const reply = (result: StoreResult) => port.postMessage(result)
/** The pretend database: a query holds one pool connection for `dbQueryMs`. */
const query = () => sleep(config.dbQueryMs)

function roomOf(name: string): Room {
  const known = rooms.get(name)
  if (known) return known
  const mailbox = registry.mailbox<ChatMessage>(`room:${name}`, {
    group: 'rooms',
    // Protected: a room holds at most 64 messages, none older than 500 ms (the client gave up by then
    // anyway). Unprotected: the usual unbounded array, as most services have.
    ...(config.protect ? { capacity: 64, maxAgeMs: 500 } : { capacity: MAX_CAPACITY }),
    onDrop: (message, reason) => reply({ id: message.id, status: 503, reason: `room queue ${reason}` }),
  })
  const room: Room = { mailbox, members: undefined, stored: 0 }
  mailbox.consume(([message]) => store(room, message!), { maxDemand: 1 })
  rooms.set(name, room)
  return room
}

async function store(room: Room, message: ChatMessage): Promise<void> {
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
  const seq = ++room.stored
  count('stored')
  reply({ id: message.id, status: 200 })
  await broadcast(room, {
    room: message.room,
    seq,
    from: message.from,
    text: message.text,
    storedAt: epochMs(),
  })
  // The search index can catch up later: under pressure it is skipped, and when protected it never
  // waits for a connection (tryCall fails fast). This is the work that `pressure.level` sheds inside.
  if (!config.protect) {
    await db.acquire()
    await query().finally(() => db.release())
  } else if (pressure.level === 0) {
    await db.tryCall(query) // UPDATE search_index …
  }
}

/**
 * One send for every member, in seq order: the room's messages are stored one at a time and all sent
 * by this thread's Manifold, whose sends each recipient sees in the order they were made. Awaited by
 * the room's consumer: when a worker's channel is full, the room waits (and its mailbox bounds it)
 * instead of dropping a delivery.
 */
async function broadcast(room: Room, delivery: RoomDelivery): Promise<void> {
  if (config.membersPerRoom === 0) return
  room.members ??= manifold.group(memberIds(delivery.room, config.membersPerRoom))
  count('broadcasts')
  count('recipients', room.members.size)
  try {
    await manifold.send(room.members, { deliver: delivery })
  } catch {
    count('broadcastFailures') // a channel closed: the service is stopping
  }
}

function accept(message: ChatMessage): void {
  // The main thread routes with the same ring; after a ring change a message can still arrive here.
  if (ring.get(message.room) !== config.workerId) {
    reply({ id: message.id, status: 421, reason: 'room moved' })
  } else if (!roomOf(message.room).mailbox.push(message)) {
    reply({ id: message.id, status: 503, reason: 'room queue full' })
  }
}

/** Hands `delivery` to each of this worker's sessions in `sessionIds`, checking its sequence. */
function deliver(sessionIds: readonly string[], delivery: RoomDelivery): void {
  for (const id of sessionIds) {
    let session = sessions.get(id)
    if (session === undefined) {
      session = { room: delivery.room, delivered: 0, lastSeq: 0, outOfOrder: 0 }
      sessions.set(id, session)
      count('sessions')
    }
    if (delivery.seq !== session.lastSeq + 1) {
      session.outOfOrder++
      count('outOfOrder')
    }
    session.lastSeq = delivery.seq
    session.delivered++ // a real session would write to its socket here
  }
  count('frames')
  count('deliveries', sessionIds.length)
  config.latency.record(Math.max(1, Math.round((epochMs() - delivery.storedAt) * 1000)))
}

// Frames stay in order: posts of a room in the order the main thread sent them, deliveries of a room
// in seq order. A handler error rejects receive(), unhandled: the worker dies and the main thread
// reports it.
void manifold.receive((recipients, mail) => {
  if ('post' in mail) accept(mail.post)
  else deliver(recipients, mail.deliver)
})

port.on('message', ({ query, room }: MembersQuery) => {
  const members: MemberState[] = []
  for (const [session, s] of sessions)
    if (s.room === room)
      members.push({
        session,
        worker: config.workerId,
        delivered: s.delivered,
        lastSeq: s.lastSeq,
        outOfOrder: s.outOfOrder,
      })
  const answer: MembersReply = { query, stored: rooms.get(room)?.stored ?? 0, members }
  port.postMessage(answer)
})
