/**
 * The chat service: every beamline package in one small program.
 *
 *   client ─HTTP─▶ main thread ─────────▶ room worker (×2, owns rooms by hash ring)
 *                  httpShedder(pressure)    room mailbox ─▶ db pool (shared semaphore)
 *                  httpLimiter(adaptive)
 *                  ◀─────── stored ────────┘
 *                  push lanes (one per provider) ─▶ undici Agent + adaptive bulkhead + adaptiveThrottle ─▶ provider
 *                  ◀── reply when the push is accepted
 *
 * The main thread owns the network (HTTP in, pushes out); workers own room state and the database.
 * PressureMonitor watches every queue (all threads register in one shared MailboxRegistry) and the
 * runtime; the exporter serves all of it on a Unix socket for `beamline-sidecar`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Worker } from 'node:worker_threads'
import { startExporter } from '@beamline/exporter'
import { AdaptiveLimit, httpLimiter } from '@beamline/limit'
import { MAX_CAPACITY, MailboxRegistry } from '@beamline/mailbox'
import { httpShedder, PressureMonitor } from '@beamline/pressure'
import { HashRing } from '@beamline/ring'
import { MAX_PERMITS, Semaphore } from '@beamline/semaphore'
import { adaptiveThrottle, bulkhead } from '@beamline/undici'
import { Agent, type Dispatcher, request } from 'undici'
import { type ChatMessage, DEVICES, type Device, type StoreResult, type WorkerConfig } from './messages.js'

export interface ChatServiceOptions {
  /** Origin of each push provider, e.g. `{ apns: 'http://127.0.0.1:8001', fcm: … }`. */
  providers: Record<Device, string>
  /** Unix socket the exporter listens on (created 0600); give `unix:<path>` to the sidecar. */
  exporterSocket: string
  /** HTTP port; 0 (default) picks a free one. Bound to 127.0.0.1. */
  port?: number
  /** false runs the same service without shedding, bulkhead, bounded queues or db deadlines. Default true. */
  protect?: boolean
  /** Room worker threads. Default 2. */
  workers?: number
  /** Connections in the pretend database pool, shared by all workers. Default 8. */
  dbPoolSize?: number
  /** Milliseconds one pretend query holds a connection. Default 40 (a message costs 2 queries). */
  dbQueryMs?: number
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
const ROUTE = /^\/rooms\/([\w-]{1,64})\/messages$/

export async function startChatService(options: ChatServiceOptions): Promise<ChatService> {
  const protect = options.protect ?? true
  const workerCount = options.workers ?? 2

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
  const posted = new Map<string, number>(workerIds.map((id) => [id, 0]))
  for (const workerId of workerIds) {
    const workerData: WorkerConfig = {
      workerId,
      registry: registry.handle,
      ring: ring.handle,
      db: db.handle,
      pressure: pressure.handle,
      protect,
      dbQueryMs: options.dbQueryMs ?? 40,
      received: new Int32Array(new SharedArrayBuffer(4)),
    }
    // A crashed worker's connections go back to the pool and its mailboxes are reclaimed, with no
    // call: this thread created it and holds `db` and the registry.
    const worker = new Worker(new URL('./room-worker.js', import.meta.url), { workerData })
    worker.on('message', (r: StoreResult) => {
      if (r.status !== 200) respond(r.id, r.status, r.reason)
      else if (!pushLanes.push(pending.get(r.id)!.message)) respond(r.id, 503, 'push queue full')
    })
    worker.on('error', (err) => {
      process.emitWarning(`chat-service: ${workerId} crashed: ${err.message}`)
    })
    workers.set(workerId, worker)
    // Messages posted to a busy worker wait in its channel, where no mailbox sees them: observe the
    // channel's length (posted here − taken there) so that pressure sees a worker falling behind.
    const { received } = workerData
    registry.observe(`channel:${workerId}`, () => posted.get(workerId)! - Atomics.load(received, 0), {
      group: 'channels',
    })
  }

  function app(req: IncomingMessage, res: ServerResponse): void {
    if (req.url === '/healthz') return void res.end('ok\n')
    const room = req.method === 'POST' ? ROUTE.exec(req.url ?? '')?.[1] : undefined
    if (!room) return void res.writeHead(404).end()
    readBody(req, (body) => {
      const parsed = parseMessage(body)
      if (!parsed) return void res.writeHead(400).end()
      const message: ChatMessage = { id: nextId++, room, ...parsed }
      pending.set(message.id, { res, message })
      const owner = ring.get(room)
      posted.set(owner, posted.get(owner)! + 1)
      workers.get(owner)!.postMessage(message)
    })
  }

  // At the door: the shedder on process-wide signals first, then an adaptive concurrency limit (default
  // gradient2, no tuning) that learns from each request's time to its response how many this service
  // serves at once at its unloaded latency, and refuses or briefly queues the rest (CoDel). Its
  // refusals are counted with the shedder's in pressure.shedStats(). /healthz is exempt from both.
  const door = new AdaptiveLimit({ name: 'http' })
  const shed = httpShedder(pressure, { retryAfterSeconds: 1 })
  const limit = httpLimiter(door, { pressure, retryAfterSeconds: 1 })
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) =>
    protect ? shed(req, res, () => limit(req, res, () => app(req, res))) : app(req, res),
  )
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))

  const exporter = await startExporter({
    service: options.service ?? 'chat-service',
    ...(options.instance === undefined ? {} : { instance: options.instance }),
    registry,
    semaphores: [db],
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
