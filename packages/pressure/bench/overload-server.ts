/**
 * The service under test for overload.bench.ts, one process per contender:
 *   node overload-server.js <none|under-pressure|beamline|beamline-20ms|beamline-limit|fixed-limit>
 * A request is a message to a single consumer, Erlang style: the handler queues it in a
 * @beamline/mailbox mailbox and waits (the queued async step); the consumer takes messages one at a
 * time and spends ~2 ms of CPU on each, yielding to I/O every 20 ms. The process saturates on CPU and
 * its backlog accumulates in the mailbox, as in a service whose workers fall behind. `/_stats`
 * reports the queue length, peak RSS and server-side p99 to the orchestrator, `/_cost?ms=N` sets the
 * CPU cost of a message (the capacity-shift phase), and neither is ever refused.
 * BENCH_VERBOSE=1 prints beamline's level changes and, every second, the requests and connections the
 * server has seen (how the connection-accept ramp described in overload-load.ts was found).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AdaptiveLimit, httpLimiter } from '@beamline/limit'
import { MailboxRegistry } from '@beamline/mailbox'
import underPressure from '@fastify/under-pressure'
import Fastify from 'fastify'
import { httpShedder, PressureMonitor } from '../src/index.js'

const mode = process.argv[2] as
  | 'none'
  | 'under-pressure'
  | 'beamline'
  | 'beamline-20ms'
  | 'beamline-limit'
  | 'fixed-limit'
/** CPU per message; `/_cost?ms=` changes it. */
let cpuMs = 2
const SLICE_MS = 20
/**
 * fixed-limit's bound, hand-tuned on this service as a careful user would: the smallest that kept
 * goodput at 3× within a few percent of the best in trial runs (4: 88 %, 8: 96 %, 16: 97 % but twice
 * the latency). BENCH_FIXED_LIMIT overrides it.
 */
const FIXED_LIMIT = Number(process.env['BENCH_FIXED_LIMIT'] ?? 8)
const EXEMPT = ['/_stats', '/_cost']

const registry = new MailboxRegistry()
const jobs = registry.mailbox<() => void>('consumer', { group: 'http', capacity: 1_000_000 })
let scheduled = false

function burn(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {}
}

function consume(): void {
  scheduled = false
  const end = performance.now() + SLICE_MS
  while (performance.now() < end) {
    const done = jobs.shift()
    if (!done) return
    burn(cpuMs)
    done()
  }
  if (jobs.length > 0) schedule()
}

function schedule(): void {
  if (scheduled) return
  scheduled = true
  setImmediate(consume)
}

/** The request's work: a message to the consumer, answered once it has been processed. */
function work(): Promise<void> {
  const start = performance.now()
  return new Promise<void>((resolve) => {
    jobs.push(resolve)
    schedule()
  }).then(() => {
    serverTimes.push(performance.now() - start)
  })
}

/** Server-side time of admitted requests since the last /_stats, to tell server from client delay. */
let serverTimes: number[] = []
/** BENCH_VERBOSE: the contender's own state, printed every second. */
let verbose = () => ''
/** Requests that reached the handler (node:http contenders). */
let received = 0
let connections = 0

function stats(res: ServerResponse): void {
  const sorted = serverTimes.sort((a, b) => a - b)
  serverTimes = []
  const body = JSON.stringify({
    queued: jobs.length,
    received,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    serverP99: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
  })
  res.writeHead(200, { 'content-type': 'application/json' }).end(body)
}

async function start(): Promise<number> {
  if (mode === 'under-pressure') {
    const app = Fastify({ keepAliveTimeout: 600_000 })
    app.get('/_stats', (_req, reply) => stats(reply.raw))
    app.get('/_cost', async (request) => {
      cpuMs = Number((request.query as { ms: string }).ms)
      return String(cpuMs)
    })
    // Encapsulated, so that /_stats is not shed.
    await app.register(async (scope) => {
      // The settings of the plugin's README example, except the memory limits: its 100 MB of RSS is
      // below this service's RSS under load (≈120–150 MB), which would refuse every request.
      await scope.register(underPressure, {
        maxEventLoopDelay: 1000,
        maxHeapUsedBytes: 1_000_000_000,
        maxRssBytes: 1_000_000_000,
        maxEventLoopUtilization: 0.98,
      })
      scope.get('/work', async () => {
        await work()
        return 'ok'
      })
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    return (app.server.address() as AddressInfo).port
  }
  let guard = (_req: IncomingMessage, _res: ServerResponse, next: () => void) => next()
  if (mode === 'beamline-limit') {
    // Default gradient2 options, no tuning to this service: the point of an adaptive limit.
    const limit = new AdaptiveLimit({ name: 'http' })
    verbose = () => {
      const { queueTime: q, limit: l, minRttMs, sampleRttMs } = limit.stats()
      return `limit=${l} minRtt=${minRttMs.toFixed(1)} rtt=${sampleRttMs.toFixed(1)} queue ms mean=${(q.sumMs / q.count).toFixed(1)} ≤${q.boundsMs.find((_, i) => q.counts[i]! >= 0.99 * q.count)} (p99)`
    }
    guard = httpLimiter(limit, { exempt: EXEMPT })
  }
  if (mode === 'fixed-limit') {
    // What a careful user writes by hand: a counter, 503 beyond it, released when the response ends.
    let active = 0
    guard = (_req, res, next) => {
      if (active >= FIXED_LIMIT) {
        res.writeHead(503, { 'retry-after': '1' }).end()
        return
      }
      active++
      res.once('close', () => active--)
      next()
    }
  }
  if (mode === 'beamline' || mode === 'beamline-20ms') {
    // Queue length × service time (≈2.1 ms) is latency. 'beamline': the default 100 ms sampling,
    // throttle from 10 queued (≈20 ms of work), shed at 150 (≈0.3 s). 'beamline-20ms': sampling
    // every 20 ms, so the queue moves less between samples and a tighter band [4, 40] holds.
    const fast = mode === 'beamline-20ms'
    const pressure = new PressureMonitor({
      registry,
      thresholds: { queuedMessages: fast ? [4, 40] : [10, 150], eventLoopDelayP99Ms: [200, 1000] },
      sampleIntervalMs: fast ? 20 : 100,
      coolDownMs: fast ? 250 : 500,
    })
    if (process.env['BENCH_VERBOSE']) {
      pressure.on('change', ({ from, to, reasons }) =>
        console.error(
          `level ${from}→${to}`,
          reasons.map((r) => `${r.signal}=${r.value.toFixed(1)}`).join(' '),
        ),
      )
    }
    guard = httpShedder(pressure, { exempt: EXEMPT })
  }
  const server = createServer((req, res) => {
    if (req.url === '/_stats') return stats(res)
    if (req.url?.startsWith('/_cost')) {
      cpuMs = Number(new URL(req.url, 'http://x').searchParams.get('ms'))
      return res.end(String(cpuMs))
    }
    received++
    guard(req, res, () => {
      work().then(() => res.end('ok'))
    })
  })
  server.keepAliveTimeout = 600_000
  server.on('connection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

start().then((port) => process.send!({ port }))
// An orchestrator that lets go ends the service normally (so that --cpu-prof writes its profile).
process.once('disconnect', () => process.exit(0))
if (process.env['BENCH_VERBOSE']) {
  let last = performance.now()
  setInterval(() => {
    const now = performance.now()
    console.error(
      `server: +${(now - last).toFixed(0)} ms received=${received} connections=${connections} queued=${jobs.length} done=${serverTimes.length} ${verbose()}`,
    )
    last = now
  }, 1_000).unref()
}
