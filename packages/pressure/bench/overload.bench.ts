/**
 * Overload benchmark (`npm run bench:overload`): one real node:http service per contender, driven by
 * an open-loop load generator in another process at 1×, 3× and 5× its measured capacity; then a
 * capacity shift, and a fleet of clients without coordination.
 *
 *   node --expose-gc dist/bench/overload.bench.js [--seconds=15]
 *     [--contenders=none,under-pressure,beamline,beamline-20ms,beamline-limit,fixed-limit] [--no-shift] [--no-fleet]
 *
 * Capacity: closed loop (32 in flight) against the unprotected service. Then per contender: 0.25×
 * capacity for 5 s (the unloaded latency), 1×, 3× and 5× for `--seconds` each (the service drains
 * between phases), and right after the 5× burst 0.5× for 20 s to time the recovery. Goodput counts 2xx
 * answered within the 1 s SLO, from the scheduled send time; the client abandons a request after
 * 10 s. Recovery: seconds after the burst until every later second serves ≥ 95 % of its requests
 * within the SLO.
 *
 * Capacity shift: 2× capacity for `--seconds`; half way through, the handler's CPU per message
 * doubles (`/_cost`), nobody changes an option. Recovery after the shift: seconds until every later
 * second's admitted p99 is within 3× the unloaded p99 at the new cost (0.25× the new capacity, on
 * the unprotected service).
 *
 * Fleet without coordination: one unprotected service; three load processes, each sending 1× its
 * capacity (3× together) through @beamline/undici's bulkhead (no queue: fail fast), with no channel
 * between them, after 3 s at 0.1× each: first `maxConcurrent: 'adaptive'`, then a fixed bulkhead
 * sized for one client (fixed-limit's bound).
 * Reported: the service's own p99 (time in its queue and at work) against its unloaded p99, and
 * each client's goodput against their mean.
 *
 * The last line printed is `BENCH_JSON {…}`, the whole run, for taking medians across runs.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { printTable, reportTarget } from '@beamline/bench-kit'
import type { PhaseResult } from './overload-load.js'

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback
const SECONDS = Number(arg('seconds', '15'))
const CONTENDERS = arg(
  'contenders',
  'none,under-pressure,beamline,beamline-20ms,beamline-limit,fixed-limit',
).split(',')
const SHIFT = !process.argv.includes('--no-shift')
const FLEET = !process.argv.includes('--no-fleet')
const RECOVERY_SECONDS = 20
/** fixed-limit's hand-tuned bound (overload-server.ts), also the fleet's fixed bulkhead. */
const FIXED = Number(process.env['BENCH_FIXED_LIMIT'] ?? 8)

const here = (file: string) => new URL(file, import.meta.url)

function ask<T>(child: ChildProcess, message: object): Promise<T> {
  child.send(message)
  return once(child, 'message').then(([reply]) => reply as T)
}

const children = new Set<ChildProcess>()

async function startServer(mode: string): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(here('./overload-server.js'), [mode], { stdio: 'inherit' })
  children.add(child)
  const [{ port }] = (await once(child, 'message')) as [{ port: number }]
  return { child, url: `http://127.0.0.1:${port}` }
}

function startLoad(): ChildProcess {
  const child = fork(here('./overload-load.js'), [], { stdio: 'inherit' })
  children.add(child)
  return child
}

interface ServerStats {
  queued: number
  maxRssBytes: number
  /** p99 of admitted requests inside the server since the previous /_stats. */
  serverP99: number
}

async function serverStats(url: string): Promise<ServerStats> {
  return (await fetch(`${url}/_stats`)).json() as Promise<ServerStats>
}

async function setCost(url: string, ms: number): Promise<void> {
  await (await fetch(`${url}/_cost?ms=${ms}`)).text()
}

async function drain(url: string): Promise<void> {
  const end = Date.now() + 60_000
  while ((await serverStats(url)).queued > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 200))
}

async function phase(
  client: ChildProcess,
  url: string,
  rate: number,
  ms: number,
  bulkhead?: string | number,
) {
  const [result] = await ask<PhaseResult[]>(client, { kind: 'open', url, segments: [{ rate, ms }], bulkhead })
  return result!
}

function recoverySeconds(r: PhaseResult): number {
  let lastBad = -1
  for (let s = 0; s < r.sentBySecond.length; s++) {
    if (r.goodBySecond[s]! < 0.95 * r.sentBySecond[s]!) lastBad = s
  }
  return lastBad === r.sentBySecond.length - 1 ? Number.POSITIVE_INFINITY : lastBad + 1
}

/** Seconds from `from` until every later second's p99 is ≤ `bound` (a second without answers is bad). */
function settleSeconds(p99BySecond: readonly number[], from: number, bound: number): number {
  let lastBad = from - 1
  for (let s = from; s < p99BySecond.length; s++) if (!(p99BySecond[s]! <= bound)) lastBad = s
  return lastBad === p99BySecond.length - 1 ? Number.POSITIVE_INFINITY : lastBad + 1 - from
}

interface Row {
  contender: string
  load: string
  goodput: number
  p50: number
  p99: number
  refused: number
  errors: number
}

interface ShiftRow {
  contender: string
  goodput: number
  /** p99 before the shift, in the 5 s after it, and from 5 s after it to the end. */
  before: number
  firstFive: number
  after: number
  settle: number
}

interface FleetRow {
  mode: string
  serverP99: number
  goodputs: number[]
  refusedLocally: number
  p99: number[]
}

const load = startLoad()
const rows: Row[] = []
const shiftRows: ShiftRow[] = []
const fleetRows: FleetRow[] = []
const summary = new Map<string, { rssMb: number; recovery: number; unloadedP99: number }>()
let capacity = 0
let shiftedUnloadedP99 = Number.NaN
let fleetUnloadedP99 = Number.NaN

try {
  {
    const { child, url } = await startServer('none')
    await ask(load, { kind: 'warm', url })
    await ask(load, { kind: 'closed', url, concurrency: 32, ms: 3_000 })
    const measured = await ask<{ rps: number; p99: number }>(load, {
      kind: 'closed',
      url,
      concurrency: 32,
      ms: 8_000,
    })
    capacity = Math.round(measured.rps)
    console.log(`capacity (closed loop, 32 in flight): ${capacity} req/s, p99 ${measured.p99.toFixed(1)} ms`)
    child.kill()
  }
  // Phases interleave the contenders (all 1× runs, then all 3×, then all 5×) so that the noise of a
  // shared machine falls on all of them alike rather than on whichever ran last.
  const servers = new Map<string, string>()
  const light = new Map<string, PhaseResult>()
  for (const contender of CONTENDERS) {
    const { url } = await startServer(contender)
    servers.set(contender, url)
    await ask(load, { kind: 'warm', url })
    await phase(load, url, capacity * 0.5, 3_000)
    await drain(url)
    light.set(contender, await phase(load, url, capacity * 0.25, 5_000))
  }
  const recovery = new Map<string, number>()
  for (const multiple of [1, 3, 5]) {
    for (const [contender, url] of servers) {
      await drain(url)
      const { connected } = await ask<{ connected: number }>(load, { kind: 'warm', url })
      if (connected < 512) console.log(`${contender}: only ${connected} connections open`)
      await serverStats(url)
      // After the 5× burst the load drops to 0.5× at once, in the same schedule, to time the recovery.
      const segments = [{ rate: capacity * multiple, ms: SECONDS * 1_000 }]
      if (multiple === 5) segments.push({ rate: capacity * 0.5, ms: RECOVERY_SECONDS * 1_000 })
      const [r, after] = await ask<PhaseResult[]>(load, { kind: 'open', url, segments })
      const { serverP99 } = await serverStats(url)
      if (r === undefined) throw new Error('load generator returned no result')
      if (after) recovery.set(contender, recoverySeconds(after))
      rows.push({
        contender,
        load: `${multiple}×`,
        goodput: r.good / SECONDS,
        p50: r.p50,
        p99: r.p99,
        refused: r.refused / SECONDS,
        errors: r.errors / SECONDS,
      })
      console.log(`${contender} ${multiple}×: ${JSON.stringify({ ...rows.at(-1), sent: r.sent, serverP99 })}`)
      if (process.env['BENCH_VERBOSE']) console.log(`  good per second: ${r.goodBySecond.join(' ')}`)
    }
  }
  if (SHIFT) {
    // The unloaded p99 at the doubled cost, on the unprotected service (0.25× the new capacity).
    const none = servers.get('none')
    if (none) {
      await drain(none)
      await setCost(none, 4)
      shiftedUnloadedP99 = (await phase(load, none, capacity * 0.125, 5_000)).p99
      await setCost(none, 2)
      console.log(`unloaded p99 at the doubled cost: ${shiftedUnloadedP99.toFixed(1)} ms`)
    }
    const half = Math.floor(SECONDS / 2)
    for (const [contender, url] of servers) {
      await drain(url)
      await ask(load, { kind: 'warm', url })
      await setCost(url, 2)
      const shift = setTimeout(() => void setCost(url, 4), half * 1_000)
      const r = await phase(load, url, capacity * 2, SECONDS * 1_000)
      clearTimeout(shift)
      await setCost(url, 2)
      // NaN (a second without answers) crosses IPC as null.
      const p99s = r.p99BySecond.map((v) => v ?? Number.NaN)
      const worst = (from: number, to: number) =>
        Math.max(...p99s.slice(from, to).map((v) => (Number.isNaN(v) ? 0 : v)))
      shiftRows.push({
        contender,
        goodput: r.good / SECONDS,
        before: worst(1, half),
        firstFive: worst(half, half + 5),
        after: worst(half + 5, p99s.length),
        settle: settleSeconds(p99s, half, 3 * shiftedUnloadedP99),
      })
      console.log(
        `${contender} shift: ${JSON.stringify(shiftRows.at(-1))} p99 by second ${p99s.map((v) => v.toFixed(0)).join(' ')}`,
      )
    }
  }
  for (const [contender, url] of servers) {
    const { maxRssBytes } = await serverStats(url)
    summary.set(contender, {
      rssMb: maxRssBytes / 2 ** 20,
      recovery: recovery.get(contender)!,
      unloadedP99: light.get(contender)!.p99,
    })
  }
  if (FLEET) {
    for (const child of [...children].filter((c) => c !== load)) child.kill()
    const { url } = await startServer('none')
    const clients = [load, startLoad(), startLoad()]
    for (const c of clients) await ask(c, { kind: 'warm', url })
    await phase(load, url, capacity * 0.5, 3_000)
    await drain(url)
    await serverStats(url)
    await phase(load, url, capacity * 0.25, 5_000)
    fleetUnloadedP99 = (await serverStats(url)).serverP99
    for (const mode of ['adaptive', FIXED] as const) {
      // Each client's bulkhead first sees the service unloaded, as a client that starts before the rush.
      await Promise.all(clients.map((c) => phase(c, url, capacity * 0.1, 3_000, mode)))
      await drain(url)
      await serverStats(url)
      const results = await Promise.all(clients.map((c) => phase(c, url, capacity, SECONDS * 1_000, mode)))
      const { serverP99 } = await serverStats(url)
      fleetRows.push({
        mode: mode === 'adaptive' ? "bulkhead 'adaptive'" : `bulkhead ${mode} (fixed)`,
        serverP99,
        goodputs: results.map((r) => r.good / SECONDS),
        refusedLocally: results.reduce((a, r) => a + r.refusedLocally, 0) / SECONDS,
        p99: results.map((r) => r.p99),
      })
      console.log(`fleet ${mode}: ${JSON.stringify(fleetRows.at(-1))}`)
    }
  }
} finally {
  for (const child of children) child.kill()
}

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(v >= 100 ? 0 : 1) : '–')
console.log(`\n## Overload: capacity ${capacity} req/s, ${SECONDS} s per phase, SLO 1 s\n`)
console.log(
  '| contender | load | goodput req/s | % of capacity | p50 ms | p99 ms | refused req/s | errors req/s | peak RSS MB | recovery s |',
)
console.log('|---|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  const s = summary.get(r.contender)!
  const recovery =
    r.load === '5×' ? (Number.isFinite(s.recovery) ? String(s.recovery) : `> ${RECOVERY_SECONDS}`) : ''
  console.log(
    `| ${r.contender} | ${r.load} | ${r.goodput.toFixed(0)} | ${((100 * r.goodput) / capacity).toFixed(0)} % | ${ms(r.p50)} | ${ms(r.p99)} | ${r.refused.toFixed(0)} | ${r.errors.toFixed(0)} | ${r.load === '1×' ? s.rssMb.toFixed(0) : ''} | ${recovery} |`,
  )
}
for (const [name, s] of summary) console.log(`unloaded p99 (0.25× capacity) ${name}: ${ms(s.unloadedP99)} ms`)

if (shiftRows.length > 0) {
  console.log(
    `\n## Capacity shift: 2× capacity, CPU per message 2 → 4 ms after ${Math.floor(SECONDS / 2)} s; unloaded p99 at 4 ms: ${ms(shiftedUnloadedP99)} ms\n`,
  )
  console.log(
    '| contender | goodput req/s | p99 before ms | p99 0–5 s after ms | p99 5 s after → end ms | back ≤ 3× new unloaded after s |',
  )
  console.log('|---|---|---|---|---|---|')
  for (const r of shiftRows) {
    console.log(
      `| ${r.contender} | ${r.goodput.toFixed(0)} | ${ms(r.before)} | ${ms(r.firstFive)} | ${ms(r.after)} | ${Number.isFinite(r.settle) ? r.settle : 'never'} |`,
    )
  }
}
if (fleetRows.length > 0) {
  console.log(
    `\n## Fleet: 3 clients × 1× capacity against one service; its unloaded p99 ${ms(fleetUnloadedP99)} ms\n`,
  )
  console.log(
    '| clients use | service p99 ms | × unloaded | goodput per client req/s | spread from mean | refused by the clients req/s |',
  )
  console.log('|---|---|---|---|---|---|')
  for (const f of fleetRows) {
    const mean = f.goodputs.reduce((a, b) => a + b, 0) / f.goodputs.length
    const spread = Math.max(...f.goodputs.map((g) => Math.abs(g - mean) / mean))
    console.log(
      `| ${f.mode} | ${ms(f.serverP99)} | ${(f.serverP99 / fleetUnloadedP99).toFixed(1)}× | ${f.goodputs.map((g) => g.toFixed(0)).join(', ')} | ±${(100 * spread).toFixed(0)} % | ${f.refusedLocally.toFixed(0)} |`,
    )
  }
}

const at = (c: string, load: string) => rows.find((r) => r.contender === c && r.load === load)
printTable(
  'goodput at 3× capacity',
  [
    { name: 'capacity', value: capacity, unit: 'req/s' },
    ...rows
      .filter((r) => r.load === '3×')
      .map((r) => ({ name: r.contender, value: r.goodput, unit: 'req/s' })),
  ],
  'capacity',
)
const unloaded = summary.get('none')?.unloadedP99 ?? Number.NaN
for (const name of CONTENDERS.filter((c) => c === 'beamline' || c === 'beamline-20ms')) {
  const b = at(name, '3×')
  if (!b) continue
  reportTarget(
    `${name} goodput at 3× ≥ 90 % of capacity`,
    b.goodput >= 0.9 * capacity,
    `${b.goodput.toFixed(0)} of ${capacity} req/s`,
  )
  reportTarget(
    `${name} admitted p99 at 3× ≤ 3× unloaded p99`,
    b.p99 <= 3 * unloaded,
    `${ms(b.p99)} ms vs 3 × ${ms(unloaded)} ms`,
  )
  const up = at('under-pressure', '3×')
  if (up)
    reportTarget(
      `${name} goodput > under-pressure at 3×`,
      b.goodput > up.goodput,
      `${b.goodput.toFixed(0)} vs ${up.goodput.toFixed(0)} req/s`,
    )
}
for (const [multiple, share] of [
  ['3×', 0.95],
  ['5×', 0.75],
] as const) {
  const b = at('beamline-limit', multiple)
  if (!b) continue
  reportTarget(
    `beamline-limit admitted p99 at ${multiple} ≤ 3× unloaded p99`,
    b.p99 <= 3 * unloaded,
    `${ms(b.p99)} ms vs 3 × ${ms(unloaded)} ms`,
  )
  reportTarget(
    `beamline-limit goodput at ${multiple} ≥ ${share * 100} % of capacity`,
    b.goodput >= share * capacity,
    `${b.goodput.toFixed(0)} of ${capacity} req/s (${((100 * b.goodput) / capacity).toFixed(0)} %)`,
  )
  const others = rows.filter((r) => r.load === multiple && r.contender !== 'beamline-limit')
  const bestOther = Math.min(...others.map((r) => r.p99))
  const bestGoodput = Math.max(...rows.filter((r) => r.load === multiple).map((r) => r.goodput))
  reportTarget(
    `beamline-limit beats every other admitted p99 at ${multiple}, goodput within 3 % of the best`,
    b.p99 < bestOther && b.goodput >= 0.97 * bestGoodput,
    `p99 ${ms(b.p99)} vs best other ${ms(bestOther)} ms; goodput ${b.goodput.toFixed(0)} vs best ${bestGoodput.toFixed(0)} req/s`,
  )
}
const shifted = shiftRows.find((r) => r.contender === 'beamline-limit')
if (shifted)
  reportTarget(
    'beamline-limit: within 5 s of the capacity shift, admitted p99 back ≤ 3× the new unloaded p99',
    shifted.settle <= 5,
    `${Number.isFinite(shifted.settle) ? `${shifted.settle} s` : 'never'}; p99 from 5 s after: ${ms(shifted.after)} ms vs 3 × ${ms(shiftedUnloadedP99)} ms`,
  )
const adaptiveFleet = fleetRows[0]
if (adaptiveFleet) {
  const mean = adaptiveFleet.goodputs.reduce((a, b) => a + b, 0) / adaptiveFleet.goodputs.length
  reportTarget(
    "fleet, bulkhead 'adaptive': the service's p99 ≤ 3× unloaded",
    adaptiveFleet.serverP99 <= 3 * fleetUnloadedP99,
    `${ms(adaptiveFleet.serverP99)} ms vs 3 × ${ms(fleetUnloadedP99)} ms`,
  )
  reportTarget(
    "fleet, bulkhead 'adaptive': each client's goodput within ±25 % of their mean",
    adaptiveFleet.goodputs.every((g) => Math.abs(g - mean) <= 0.25 * mean),
    adaptiveFleet.goodputs.map((g) => g.toFixed(0)).join(', '),
  )
}
const none = at('none', '3×')
if (none)
  reportTarget(
    'no protection collapses at 3×',
    none.goodput < 0.5 * capacity,
    `${none.goodput.toFixed(0)} req/s goodput`,
  )
console.log(
  `BENCH_JSON ${JSON.stringify({ capacity, seconds: SECONDS, rows, summary: Object.fromEntries(summary), shiftedUnloadedP99, shiftRows, fleetUnloadedP99, fleetRows })}`,
)
