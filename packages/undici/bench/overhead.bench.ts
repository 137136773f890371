/**
 * Overhead per request of the interceptors against a plain undici Agent, at saturation: 64 requests
 * in flight on loopback keep-alive to a server in another thread that answers at once, so the client
 * thread is busy all the time and any cost we add shows. The value is the client thread's CPU time per
 * request (process.threadCpuUsage), which other processes on a shared machine disturb less than wall
 * time; wall time per request is in the note. Every round measures each case once, in a rotating
 * order; a case's overhead is the median over rounds of its ratio to the baseline of the same round,
 * which cancels the machine's slow drifts better than a ratio of medians. The peer row wraps the same
 * Agent in cockatiel's (global, not per-origin) bulkhead.
 */
import { measureCases, median, printTable, type Row, reportTarget } from '@beamline/bench-kit'
import { adaptiveThrottle, bulkhead } from '@beamline/undici'
import { bulkhead as cockatielBulkhead } from 'cockatiel'
import { Agent, DecoratorHandler, type Dispatcher } from 'undici'
import { startServerThread } from './start-server.js'

const REQUESTS = 2_000
const IN_FLIGHT = 64
const RUNS = 31

const server = await startServerThread(0)
const opts: Dispatcher.RequestOptions = { origin: server.origin, path: '/', method: 'GET' }

type Send = () => Promise<unknown>
const viaAgent =
  (agent: Dispatcher): Send =>
  async () =>
    (await agent.request(opts)).body.dump()

const plain = new Agent()
// What any interceptor costs through compose() (a Proxy over the Agent), before it does anything.
const passThrough = new Agent().compose((dispatch) => (o, h) => dispatch(o, h))
// What any interceptor that wraps the handler costs (as undici's own retry, dump, cache do), before it
// does anything: undici's DecoratorHandler forwarding every callback.
const wrapping = new Agent().compose((dispatch) => (o, h) => dispatch(o, new DecoratorHandler(h)))
const withBulkhead = new Agent().compose(bulkhead({ maxConcurrent: 128, maxQueued: 1000 }))
const queueing = new Agent().compose(bulkhead({ maxConcurrent: 32, maxQueued: 1000 }))
const withBoth = new Agent().compose(bulkhead({ maxConcurrent: 128, maxQueued: 1000 }), adaptiveThrottle())
const cockatielAgent = new Agent()
const cockatiel = cockatielBulkhead(128, 1000)
const cockatielSend = viaAgent(cockatielAgent)

const cases: { name: string; send: Send; note?: string }[] = [
  { name: 'undici Agent (baseline)', send: viaAgent(plain) },
  { name: 'Agent.compose(pass-through)', send: viaAgent(passThrough), note: "undici's compose alone" },
  {
    name: 'Agent.compose(DecoratorHandler)',
    send: viaAgent(wrapping),
    note: 'any handler-wrapping interceptor, doing nothing',
  },
  {
    name: 'Agent + bulkhead',
    send: viaAgent(withBulkhead),
    note: 'limit above load: admission + accounting only',
  },
  { name: 'Agent + bulkhead + adaptiveThrottle', send: viaAgent(withBoth) },
  {
    name: 'Agent + bulkhead, half queued',
    send: viaAgent(queueing),
    note: 'maxConcurrent 32 < 64 in flight',
  },
  { name: 'Agent + cockatiel bulkhead (peer)', send: () => cockatiel.execute(cockatielSend) },
]

/** Sends REQUESTS requests, IN_FLIGHT at a time; returns [CPU µs, wall µs] per request. */
async function run(send: Send): Promise<[number, number]> {
  let left = REQUESTS
  const cpu = process.threadCpuUsage()
  const start = performance.now()
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (left-- > 0) await send()
    }),
  )
  const wall = ((performance.now() - start) * 1000) / REQUESTS
  const used = process.threadCpuUsage(cpu)
  return [(used.user + used.system) / REQUESTS, wall]
}

for (const c of cases) await run(c.send) // warm up sockets and JIT
const cpu = cases.map(() => [] as number[])
const wall = cases.map(() => [] as number[])
const paired = cases.map(() => [] as number[])
for (let r = 0; r < RUNS; r++) {
  const round: number[] = []
  for (let j = 0; j < cases.length; j++) {
    const i = (j + r) % cases.length
    globalThis.gc?.()
    const [c, w] = await run(cases[i]!.send)
    cpu[i]!.push(c)
    wall[i]!.push(w)
    round[i] = c
  }
  for (let i = 0; i < cases.length; i++) paired[i]!.push(round[i]! / round[0]!)
}
const overheadPct = (i: number) => (median(paired[i]!) - 1) * 100
const rows: Row[] = cases.map((c, i) => ({
  name: c.name,
  value: median(cpu[i]!),
  unit: 'CPU µs/req',
  note: [
    i === 0 ? '' : `paired overhead ${overheadPct(i) >= 0 ? '+' : ''}${overheadPct(i).toFixed(1)}%`,
    `wall ${median(wall[i]!).toFixed(1)} µs/req`,
    c.note,
  ]
    .filter(Boolean)
    .join('; '),
}))
printTable(
  `Overhead at saturation: ${IN_FLIGHT} in flight, ${REQUESTS} requests per run, loopback keep-alive`,
  rows,
  'undici Agent (baseline)',
)
for (const name of ['Agent + bulkhead', 'Agent + bulkhead + adaptiveThrottle']) {
  const overhead = overheadPct(cases.findIndex((c) => c.name === name))
  reportTarget(
    `${name} overhead ≤ 3%`,
    overhead <= 3,
    `${overhead.toFixed(1)}% client CPU per request (paired median)`,
  )
}
await Promise.all(
  [plain, passThrough, wrapping, withBulkhead, queueing, withBoth, cockatielAgent].map((a) => a.close()),
)
await server.stop()

// The interceptors' own cost, free of network noise: one request's full callback sequence through a
// dispatcher that answers synchronously (no I/O), with and without each interceptor.
const controller = { aborted: false, paused: false, reason: null, abort() {}, pause() {}, resume() {} }
const syncDispatch = (o: Dispatcher.DispatchOptions, h: Dispatcher.DispatchHandler): boolean => {
  h.onRequestStart?.(controller, null)
  h.onResponseStart?.(controller, 200, {}, 'OK')
  h.onResponseData?.(controller, Buffer.alloc(0))
  h.onResponseEnd?.(controller, {})
  return o !== null
}
const handler: Dispatcher.DispatchHandler = {
  onRequestStart() {},
  onResponseStart() {},
  onResponseData() {},
  onResponseEnd() {},
  onResponseError() {},
}
const dispatchOpts: Dispatcher.DispatchOptions = { origin: 'http://127.0.0.1:3000', path: '/', method: 'GET' }
const b = bulkhead({ maxConcurrent: 100 })(syncDispatch)
const t = adaptiveThrottle()(syncDispatch)
const bt = adaptiveThrottle()(bulkhead({ maxConcurrent: 100 })(syncDispatch))
printTable(
  'Interceptor cost per request, synchronous dispatcher (no I/O)',
  await measureCases([
    { name: 'no interceptor', fn: () => syncDispatch(dispatchOpts, handler) },
    { name: 'bulkhead', fn: () => b(dispatchOpts, handler) },
    { name: 'adaptiveThrottle', fn: () => t(dispatchOpts, handler) },
    { name: 'bulkhead + adaptiveThrottle', fn: () => bt(dispatchOpts, handler) },
  ]),
  'no interceptor',
)
