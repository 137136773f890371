/**
 * The chat service: every beamline package in one small program.
 *
 *   client ─HTTP─▶ main thread ──── Manifold frame ───▶ room worker (×2; rooms and sessions by hash ring)
 *                  httpShedder(pressure)   (its channel)    room mailbox ─▶ db pool (shared semaphore)
 *                  httpLimiter(adaptive)                    stored ─▶ Manifold.send(room's members)
 *                  ◀──── stored (postMessage) ─────────┘      one frame per worker channel ─▶ every worker
 *                                                             delivers to its own sessions, in order
 *                  push lanes (one per provider) ─▶ undici Agent + adaptive bulkhead + adaptiveThrottle ─▶ provider
 *                  ◀── reply when the push is accepted
 *
 * The main thread owns the network (HTTP in, pushes out); workers own room state, sessions and the
 * database. Each worker consumes one @beamline/fanout Channel, created here: the main thread writes
 * posts into the room owner's channel, and every worker writes broadcasts into every worker's channel.
 * PressureMonitor watches every queue (all threads register in one shared MailboxRegistry, channels
 * included) and the runtime; the exporter serves all of it on a Unix socket for `beamline-sidecar`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHistogram } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { integerOption } from '@beamline/core'
import { startExporter } from '@beamline/exporter'
import { Channel, Manifold } from '@beamline/fanout'
import { AdaptiveLimit, httpLimiter } from '@beamline/limit'
import { MAX_CAPACITY, MailboxRegistry } from '@beamline/mailbox'
import { httpShedder, PressureMonitor } from '@beamline/pressure'
import { HashRing } from '@beamline/ring'
import { MAX_PERMITS, Semaphore } from '@beamline/semaphore'
import { adaptiveThrottle, bulkhead } from '@beamline/undici'
import { Agent, type Dispatcher, request } from 'undici'
import { createCounters, readFanoutStats } from './fanout-stats.js'
import {
  type ChatMessage,
  DEVICES,
  type Device,
  type MemberState,
  type MembersQuery,
  type MembersReply,
  type StoreResult,
  type WorkerConfig,
  type WorkerMail,
} from './messages.js'

export interface ChatServiceOptions {
  /** Origin of each push provider, e.g. `{ apns: 'http://127.0.0.1:8001', fcm: … }`. */
  providers: Record<Device, string>
  /** Unix socket the exporter listens on (created 0600); give `unix:<path>` to the sidecar. */
  exporterSocket: string
  /** HTTP port; 0 (default) picks a free one. Bound to 127.0.0.1. */
  port?: number
  /** false runs the same service without shedding, bulkhead, bounded queues or db deadlines. Default true. */
  protect?: boolean
  /** Room worker threads, each owning its share of rooms and sessions. Integer from 1 to 64. Default 2. */
  workers?: number
  /** Connections in the pretend database pool, shared by all workers. Default 8. */
  dbPoolSize?: number
  /** Milliseconds one pretend query holds a connection. Default 40 (a message costs 2 queries). */
  dbQueryMs?: number
  /**
   * Members of every room, sessions `<room>#0` … `<room>#<n − 1>` spread over the workers by the
   * hash ring; each stored message is delivered to all of them. Integer from 0 (no broadcast) to
   * 30 000. Default 100.
   */
  membersPerRoom?: number
  /** The exporter's `service` label. Default 'chat-service'. */
  service?: string
  /**
   * The exporter's `instance` label. Default hostname:pid; give the pod's name where a restarted
   * process should continue the same series (its counters then reset, which rates absorb).
   */
  instance?: string
}

export interface ChatService {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** `unix:<path>`, for `beamline-sidecar --target`. */
  readonly exporterUrl: string
  close(): Promise<void>
}

const MAX_BODY_BYTES = 4096
const ROUTE = /^\/rooms\/([\w-]{1,64})\/(messages|members)$/
/** Each worker channel's ring: a 30 000-member broadcast frame (≈ 250 KiB of ids) fits many times. */
const CHANNEL_BYTES = 4 << 20
/** A members query that some worker does not answer in time gets a 503. */
const MEMBERS_TIMEOUT_MS = 5000
/**
 * Never shed or limited: liveness, and the reads of fan-out counters and members — in-memory state,
 * no database, what an operator looks at during an incident.
 */
const EXEMPT = ['/healthz', '/livez', '/fanout', /^\/rooms\/[\w-]{1,64}\/members$/]

export async function startChatService(options: ChatServiceOptions): Promise<ChatService> {
  const protect = options.protect ?? true
  const workerCount = integerOption('workers', options.workers, 1, 64, 2)
  const membersPerRoom = integerOption('membersPerRoom', options.membersPerRoom, 0, 30_000, 100)

  // Shared state, created once here and attached by every worker through its handle.
  const registry = new MailboxRegistry({ capacity: 4096 })
  const db = new Semaphore({
    name: 'db',
    max: options.dbPoolSize ?? 8,
    maxWaiters: protect ? 1000 : MAX_PERMITS,
  })
  // Callers waiting for a db connection are a queue too: sample it into the registry.
  registry.observe('db:waiting', () => db.stats().waiting, { group: 'db' })
  const workerIds = Array.from({ length: workerCount }, (_, i) => `worker-${i}`)
  const ring = new HashRing({ nodes: workerIds })
  // One channel per worker, named after its ring node, in the registry (so pressure counts the frames
  // a busy worker has not read yet) and the exporter (beamline_channel_*).
  const channels = workerIds.map(
    (name) => new Channel({ name, capacityBytes: CHANNEL_BYTES, registry, group: 'channels' }),
  )
  const manifold = new Manifold<WorkerMail, string>({ channels, owners: ring })
  const counters = createCounters(workerCount)
  const latency = createHistogram() // shared by every thread it is sent to
  const pressure = new PressureMonitor({
    registry,
    thresholds: {
      // Items in every mailbox, lane, channel and outbound queue, all threads. Low, because this
      // service's capacity is low (100 messages/s): 120 queued is already > 1 s of work.
      queuedMessages: [20, 120],
      eventLoopDelayP99Ms: [250, 1000],
      gcFraction: [0.15, 0.3],
      heapUsedRatio: [0.8, 0.92],
    },
    sampleIntervalMs: 100,
    coolDownMs: 1000,
  })

  // Outbound: one bulkhead per provider origin, so a slow APNs cannot take FCM's sockets or memory,
  // and client-side throttling when a provider keeps failing. Unprotected: a plain Agent.
  // maxConcurrent 'adaptive': each origin's own limit, learned from its latency and errors, finds
  // what the provider serves at once (more would only queue over there) with nothing to tune.
  const bulkheads = bulkhead({ maxConcurrent: 'adaptive', maxQueued: 16, queueTimeoutMs: 500, registry })
  const throttle = adaptiveThrottle({ k: 2, windowMs: 10_000 })
  const agent: Dispatcher = protect
    ? new Agent({ connections: 32 }).compose(bulkheads, throttle)
    : new Agent()

  // Pending HTTP responses by message id. Everything below ends in exactly one respond().
  const pending = new Map<number, { res: ServerResponse; message: ChatMessage }>()
  let nextId = 1
  const respond = (id: number, status: number, reason?: string) => {
    const entry = pending.get(id)
    if (!entry) return
    pending.delete(id)
    const body = JSON.stringify(status === 200 ? { ok: true } : { ok: false, reason })
    if (!entry.res.destroyed) entry.res.writeHead(status, { 'content-type': 'application/json' }).end(body)
  }

  // One lane per provider (key = device index): a slow provider fills only its own lane.
  const pushLanes = registry.lanes<ChatMessage>('push', {
    lanes: DEVICES.length,
    key: (m) => DEVICES.indexOf(m.device),
    ...(protect ? { capacityPerLane: 128, maxAgeMs: 500 } : { capacityPerLane: MAX_CAPACITY }),
    onDrop: (m, reason) => respond(m.id, 503, `push queue ${reason}`),
  })
  pushLanes.consume(([m]) => sendPush(m!), { maxDemand: 1, concurrency: protect ? 20 : 10_000 })

  async function sendPush(m: ChatMessage): Promise<void> {
    try {
      const { statusCode, body } = await request(`${options.providers[m.device]}/push`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ room: m.room, from: m.from, text: m.text }),
        ...(protect ? { headersTimeout: 5000, bodyTimeout: 5000 } : {}),
      })
      await body.dump()
      respond(m.id, statusCode < 300 ? 200 : 502, `provider ${statusCode}`)
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'error'
      // Our own refusals (bulkhead full, queue timeout, throttled) are load shedding: 503, retry later.
      respond(m.id, code.startsWith('ERR_BEAMLINE_') ? 503 : 502, code)
    }
  }

  const workers = new Map<string, Worker>()
  const queries = new Map<number, { replies: MembersReply[]; done: (replies?: MembersReply[]) => void }>()
  let nextQuery = 1
  for (const [workerIndex, workerId] of workerIds.entries()) {
    const workerData: WorkerConfig = {
      workerId,
      registry: registry.handle,
      ring: ring.handle,
      db: db.handle,
      pressure: pressure.handle,
      protect,
      dbQueryMs: options.dbQueryMs ?? 40,
      manifold: manifold.handle,
      workerIndex,
      membersPerRoom,
      counters,
      latency,
    }
    // A crashed worker's connections go back to the pool, its mailboxes are reclaimed and its channel
    // slots freed, with no call: this thread created it and holds `db`, the registry and the channels.
    const worker = new Worker(new URL('./room-worker.js', import.meta.url), { workerData })
    worker.on('message', (r: StoreResult | MembersReply) => {
      if ('query' in r) {
        const query = queries.get(r.query)
        if (query && query.replies.push(r) === workerCount) query.done(query.replies)
      } else if (r.status !== 200) respond(r.id, r.status, r.reason)
      else if (!pushLanes.push(pending.get(r.id)!.message)) respond(r.id, 503, 'push queue full')
    })
    worker.on('error', (err) => {
      process.emitWarning(`chat-service: ${workerId} crashed: ${err.message}`)
    })
    workers.set(workerId, worker)
  }

  /** Every worker's sessions of `room`, by session id, and how many messages its owner stored. */
  function members(room: string, res: ServerResponse): void {
    const query = nextQuery++
    const timer = setTimeout(() => queries.get(query)?.done(), MEMBERS_TIMEOUT_MS)
    queries.set(query, {
      replies: [],
      done(replies) {
        queries.delete(query)
        clearTimeout(timer)
        if (!replies) return void res.writeHead(503).end()
        const stored = replies.reduce((a, r) => a + r.stored, 0)
        const all: MemberState[] = replies.flatMap((r) => r.members)
        all.sort((a, b) => (a.session < b.session ? -1 : 1))
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ room, stored, members: all }))
      },
    })
    const ask: MembersQuery = { query, room }
    for (const worker of workers.values()) worker.postMessage(ask)
  }

  function app(req: IncomingMessage, res: ServerResponse): void {
    if (req.url === '/healthz') return void res.end('ok\n')
    if (req.url === '/fanout' && req.method === 'GET') {
      const stats = readFanoutStats(counters, latency, membersPerRoom)
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats))
    }
    const [, room, what] = ROUTE.exec(req.url ?? '') ?? []
    if (room && what === 'members' && req.method === 'GET') return void members(room, res)
    if (!room || what !== 'messages' || req.method !== 'POST') return void res.writeHead(404).end()
    readBody(req, (body) => {
      const parsed = parseMessage(body)
      if (!parsed) return void res.writeHead(400).end()
      const message: ChatMessage = { id: nextId++, room, ...parsed }
      pending.set(message.id, { res, message })
      // To the room's owner (the ring gives the room's name a worker, as it does a session id), in its
      // channel. Protected, a full channel refuses at once, as a full mailbox does.
      manifold
        .send([room], { post: message }, protect ? { timeoutMs: 0 } : undefined)
        .catch((err: { code?: string }) => respond(message.id, 503, err.code ?? 'worker channel'))
    })
  }

  // At the door: the shedder on process-wide signals first, then an adaptive concurrency limit (default
  // gradient2, no tuning) that learns from each request's time to its response how many this service
  // serves at once at its unloaded latency, and refuses or briefly queues the rest (CoDel). Its
  // refusals are counted with the shedder's in pressure.shedStats(). EXEMPT paths pass both.
  const door = new AdaptiveLimit({ name: 'http' })
  const shed = httpShedder(pressure, { retryAfterSeconds: 1, exempt: EXEMPT })
  const limit = httpLimiter(door, { pressure, retryAfterSeconds: 1, exempt: EXEMPT })
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) =>
    protect ? shed(req, res, () => limit(req, res, () => app(req, res))) : app(req, res),
  )
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))

  const exporter = await startExporter({
    service: options.service ?? 'chat-service',
    ...(options.instance === undefined ? {} : { instance: options.instance }),
    registry,
    semaphores: [db],
    channels,
    pressure,
    rings: { rooms: ring },
    limits: protect ? [door] : [],
    undici: protect ? { bulkheads: [bulkheads], throttles: [throttle] } : {},
    listen: { path: options.exporterSocket },
  })

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exporterUrl: exporter.url,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await Promise.all([...workers.values()].map((w) => w.terminate()))
      for (const channel of channels) channel.close()
      await exporter.close()
      pressure.stop()
      pushLanes.close()
      await agent.close()
    },
  }
}

function readBody(req: IncomingMessage, done: (body: string) => void): void {
  const chunks: Buffer[] = []
  let size = 0
  req.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (size > MAX_BODY_BYTES) req.destroy()
    else chunks.push(chunk)
  })
  req.on('end', () => done(Buffer.concat(chunks).toString('utf8')))
}

function parseMessage(body: string): Omit<ChatMessage, 'id' | 'room'> | undefined {
  try {
    const { from, text, device } = JSON.parse(body) as Record<string, unknown>
    if (typeof from !== 'string' || typeof text !== 'string' || !DEVICES.includes(device as Device))
      return undefined
    return { from, text, device: device as Device }
  } catch {
    return undefined
  }
}
