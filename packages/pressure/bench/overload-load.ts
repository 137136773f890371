/**
 * The load generator of overload.bench.ts, in its own process so that it does not share an event
 * loop with the service. Open loop: requests are scheduled at a fixed rate whatever the service does,
 * and latency is measured from the scheduled time (no coordinated omission); a request unanswered
 * after 10 s is abandoned, as a real client would. Commands arrive over IPC:
 *   { kind: 'warm', url }                     → { connected }           (open the connections)
 *   { kind: 'closed', url, concurrency, ms }  → { rps, p99 }            (capacity)
 *   { kind: 'open', url, segments: [{ rate, ms }, …], bulkhead? }  → PhaseResult per segment
 * With `bulkhead` ('adaptive' or a number) the client goes through @beamline/undici's bulkhead with
 * that maxConcurrent and no queue (the fleet scenario: several such clients, no channel between them).
 */
import { bulkhead as bulkheadInterceptor } from '@beamline/undici'
import { type Dispatcher, Pool } from 'undici'

const SLO_MS = 1_000
const CLIENT_TIMEOUT_MS = 10_000

export interface PhaseResult {
  sent: number
  /** 2xx answered within the SLO, per second of scheduled time. */
  goodBySecond: number[]
  sentBySecond: number[]
  ok: number
  good: number
  refused: number
  errors: number
  /** Refused by the client's own bulkhead, never sent. */
  refusedLocally: number
  p50: number
  p99: number
  /** p99 of the 2xx answered, per second of scheduled time (NaN for a second without any). */
  p99BySecond: number[]
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

const CONNECTIONS = 512
type Bulkhead = 'adaptive' | number | undefined
const pools = new Map<string, Pool>()
const clients = new Map<string, Dispatcher>()
function poolFor(url: string): Pool {
  let pool = pools.get(url)
  if (!pool) {
    pool = new Pool(url, {
      connections: CONNECTIONS,
      pipelining: 1,
      keepAliveTimeout: 600_000,
      keepAliveMaxTimeout: 600_000,
    })
    pools.set(url, pool)
  }
  return pool
}
/** The pool, behind a bulkhead of its own when asked (one per maxConcurrent, kept across phases). */
function clientFor(url: string, bulkhead: Bulkhead): Dispatcher {
  if (bulkhead === undefined) return poolFor(url)
  const key = `${url} ${bulkhead}`
  let client = clients.get(key)
  if (!client) {
    // Fail fast rather than queue: a request that waits in the client for a slot misses the SLO.
    const interceptor = bulkheadInterceptor({ maxConcurrent: bulkhead, maxQueued: 0 })
    client = poolFor(url).compose(interceptor)
    if (process.env['BENCH_VERBOSE']) {
      setInterval(() => {
        const k = interceptor.stats()[0]
        if (k) console.error(`client ${process.pid} ${bulkhead}: limit=${k.limit} active=${k.active}`)
      }, 1_000).unref()
    }
    clients.set(key, client)
  }
  return client
}

/**
 * Opens every connection before a phase, as a load balancer keeps its pool open: a busy Node
 * process accepts about one new connection per event-loop turn, so a client that opened connections
 * only under load would measure its own connection ramp instead of the service.
 */
async function warm(url: string): Promise<void> {
  const p = poolFor(url)
  for (let round = 0; round < 20 && p.stats.connected < CONNECTIONS; round++) {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, () =>
        p.request({ path: '/_stats', method: 'GET' }).then((res) => res.body.dump()),
      ),
    )
  }
}

async function closed(url: string, concurrency: number, ms: number): Promise<{ rps: number; p99: number }> {
  const p = poolFor(url)
  const end = performance.now() + ms
  const latencies: number[] = []
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const start = performance.now()
        const res = await p.request({ path: '/work', method: 'GET' })
        await res.body.dump()
        latencies.push(performance.now() - start)
      }
    }),
  )
  const sorted = Float64Array.from(latencies).sort()
  return { rps: latencies.length / (ms / 1_000), p99: percentile(sorted, 0.99) }
}

function emptyResult(ms: number): PhaseResult {
  const seconds = Math.ceil(ms / 1_000)
  return {
    sent: 0,
    goodBySecond: new Array(seconds).fill(0),
    sentBySecond: new Array(seconds).fill(0),
    ok: 0,
    good: 0,
    refused: 0,
    errors: 0,
    refusedLocally: 0,
    p50: 0,
    p99: 0,
    p99BySecond: new Array(seconds).fill(Number.NaN),
  }
}

/**
 * Sends at each segment's rate for its duration, back to back (a burst, then the load after it), and
 * returns one result per segment; requests belong to the segment they were scheduled in.
 */
async function open(
  url: string,
  segments: readonly { rate: number; ms: number }[],
  bulkhead: Bulkhead,
): Promise<PhaseResult[]> {
  const p = clientFor(url, bulkhead)
  const results = segments.map((s) => emptyResult(s.ms))
  const latencies = segments.map(() => [] as number[])
  const bySecond = segments.map((s) => Array.from({ length: Math.ceil(s.ms / 1_000) }, () => [] as number[]))
  const pending = new Set<Promise<void>>()
  const fire = (k: number, scheduled: number, segmentStart: number) => {
    const result = results[k]!
    const second = Math.floor((scheduled - segmentStart) / 1_000)
    result.sent++
    result.sentBySecond[second]!++
    const request = p
      .request({ path: '/work', method: 'GET', signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) })
      .then(async (res) => {
        await res.body.dump()
        const latency = performance.now() - scheduled
        if (res.statusCode >= 200 && res.statusCode < 300) {
          result.ok++
          latencies[k]!.push(latency)
          bySecond[k]![second]!.push(latency)
          if (latency <= SLO_MS) {
            result.good++
            result.goodBySecond[second]!++
          }
        } else if (res.statusCode === 503) result.refused++
        else result.errors++
      })
      .catch((err: { code?: string }) => {
        if (err?.code === 'ERR_BEAMLINE_BULKHEAD_FULL' || err?.code === 'ERR_BEAMLINE_QUEUE_TIMEOUT')
          result.refusedLocally++
        else result.errors++
      })
      .finally(() => pending.delete(request))
    pending.add(request)
  }
  let segmentStart = performance.now()
  for (const [k, { rate, ms }] of segments.entries()) {
    const start = segmentStart
    const interval = 1_000 / rate
    const total = Math.floor((ms / 1_000) * rate)
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now()
        const due = Math.min(Math.floor((now - start) / interval), total)
        while (results[k]!.sent < due) fire(k, start + results[k]!.sent * interval, start)
        if (now >= start + ms) return resolve()
        setTimeout(tick, 1)
      }
      tick()
    })
    segmentStart = start + ms
  }
  await Promise.all(pending)
  for (const [k, result] of results.entries()) {
    const sorted = Float64Array.from(latencies[k]!).sort()
    result.p50 = percentile(sorted, 0.5)
    result.p99 = percentile(sorted, 0.99)
    result.p99BySecond = bySecond[k]!.map((l) => percentile(Float64Array.from(l).sort(), 0.99))
  }
  return results
}

interface Command {
  kind: 'closed' | 'open' | 'warm'
  url: string
  concurrency: number
  ms: number
  segments: { rate: number; ms: number }[]
  bulkhead?: 'adaptive' | number
}

process.on('message', async (command: Command) => {
  if (command.kind === 'warm') {
    await warm(command.url)
    process.send!({ connected: poolFor(command.url).stats.connected })
  } else if (command.kind === 'closed')
    process.send!(await closed(command.url, command.concurrency, command.ms))
  else process.send!(await open(command.url, command.segments, command.bulkhead))
})
