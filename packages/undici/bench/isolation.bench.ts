/**
 * One slow upstream next to a fast one. For 3 s a slow origin (answers after 1 s) receives 1000
 * requests/s, open loop, while 4 closed loops call a fast origin; we record the fast origin's latency.
 * Variants: the fast origin alone (baseline); a plain Agent (no limit: a socket per slow request);
 * cockatiel's bulkhead shared by all calls (it has no notion of origin); the beamline per-origin
 * bulkhead. Each server runs in its own worker thread. Reported: median over runs of the fast origin's
 * p99 (and p50, failures, and what the slow origin was refused, in the note).
 */
import { median, printTable, type Row, reportTarget } from '@beamline/bench-kit'
import { bulkhead } from '@beamline/undici'
import { bulkhead as cockatielBulkhead } from 'cockatiel'
import { Agent, type Dispatcher } from 'undici'
import { startServerThread } from './start-server.js'

const DURATION_MS = 3000
const SLOW_EVERY_MS = 10
const SLOW_PER_TICK = 10
const FAST_LOOPS = 4
const RUNS = 3

const slow = await startServerThread(1000)
const fast = await startServerThread(0)

type Send = (origin: string) => Promise<unknown>
interface Variant {
  name: string
  load: boolean
  make(): { send: Send; close(): Promise<void> }
}

const viaAgent =
  (agent: Dispatcher): Send =>
  async (origin) =>
    (await agent.request({ origin, path: '/', method: 'GET' })).body.dump()

const variants: Variant[] = [
  {
    name: 'fast origin alone (baseline)',
    load: false,
    make() {
      const agent = new Agent()
      return { send: viaAgent(agent), close: () => agent.close() }
    },
  },
  {
    name: 'plain Agent, slow origin flooded',
    load: true,
    make() {
      const agent = new Agent()
      return { send: viaAgent(agent), close: () => agent.close() }
    },
  },
  {
    name: 'cockatiel bulkhead(50, 500), shared',
    load: true,
    make() {
      const agent = new Agent()
      const send = viaAgent(agent)
      const bh = cockatielBulkhead(50, 500)
      return { send: (origin) => bh.execute(() => send(origin)), close: () => agent.close() }
    },
  },
  {
    name: 'beamline bulkhead(50, 500), per origin',
    load: true,
    make() {
      const agent = new Agent().compose(bulkhead({ maxConcurrent: 50, maxQueued: 500, queueTimeoutMs: 1000 }))
      return { send: viaAgent(agent), close: () => agent.close() }
    },
  },
]

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

interface Result {
  p50: number
  p99: number
  fastFailed: number
  slowFailed: number
  slowSent: number
  /** Most slow requests the slow origin held at once: the sockets and memory the flood took. */
  slowPeak: number
}

async function runOnce(v: Variant): Promise<Result> {
  const { send, close } = v.make()
  const latencies: number[] = []
  let fastFailed = 0
  let slowFailed = 0
  const slowPending: Promise<unknown>[] = []
  const end = performance.now() + DURATION_MS
  const flood = v.load
    ? setInterval(() => {
        for (let i = 0; i < SLOW_PER_TICK; i++) slowPending.push(send(slow.origin).catch(() => slowFailed++))
      }, SLOW_EVERY_MS)
    : undefined
  const stopFlood = setTimeout(() => clearInterval(flood), DURATION_MS)
  await Promise.all(
    Array.from({ length: FAST_LOOPS }, async () => {
      while (performance.now() < end) {
        const start = performance.now()
        try {
          await send(fast.origin)
          latencies.push(performance.now() - start)
        } catch {
          fastFailed++
        }
      }
    }),
  )
  clearTimeout(stopFlood)
  clearInterval(flood)
  await Promise.all(slowPending)
  await close()
  latencies.sort((a, b) => a - b)
  const slowPeak = await slow.peak()
  return {
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    fastFailed,
    slowFailed,
    slowSent: slowPending.length,
    slowPeak,
  }
}

const results = variants.map(() => [] as Result[])
for (let r = 0; r < RUNS; r++) {
  for (let i = 0; i < variants.length; i++) {
    globalThis.gc?.()
    results[i]!.push(await runOnce(variants[i]!))
  }
}
const rows: Row[] = variants.map((v, i) => {
  const rs = results[i]!
  const p50 = median(rs.map((x) => x.p50))
  const fastFailed = median(rs.map((x) => x.fastFailed))
  const slowFailed = median(rs.map((x) => x.slowFailed))
  const slowSent = median(rs.map((x) => x.slowSent))
  const slowPeak = median(rs.map((x) => x.slowPeak))
  const note = v.load
    ? `p50 ${p50.toFixed(1)} ms; fast failed ${fastFailed}; slow refused ${slowFailed}/${slowSent}, at most ${slowPeak} at the slow origin`
    : `p50 ${p50.toFixed(1)} ms`
  return { name: v.name, value: median(rs.map((x) => x.p99)), unit: 'ms p99', note }
})
const ratios = printTable(
  'Fast-origin p99 while a slow origin is flooded (1000 req/s, 1 s each)',
  rows,
  'fast origin alone (baseline)',
)
const ours = rows.find((r) => r.name.startsWith('beamline'))!
const shared = rows.find((r) => r.name.startsWith('cockatiel'))!
reportTarget(
  'per-origin bulkhead keeps the fast origin p99 below the shared bulkhead',
  ours.value < shared.value,
  `${ours.value.toFixed(1)} ms vs ${shared.value.toFixed(1)} ms (${ratios.get(ours.name)!.toFixed(2)}× the unloaded p99)`,
)
await slow.stop()
await fast.stop()
