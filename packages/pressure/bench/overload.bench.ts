/**
 * Overload benchmark (`npm run bench:overload`): one real node:http service per contender, driven by
 * an open-loop load generator in another process at 1×, 3× and 5× its measured capacity.
 *
 *   node --expose-gc dist/bench/overload.bench.js [--seconds=15] [--contenders=none,under-pressure,beamline,beamline-20ms]
 *
 * Capacity: closed loop (32 in flight) against the unprotected service. Then per contender: 0.25×
 * capacity for 5 s (the unloaded latency), 1×, 3× and 5× for `--seconds` each (the service drains
 * between phases), and right after the 5× burst 0.5× for 20 s to time the recovery. Goodput counts 2xx
 * answered within the 1 s SLO, from the scheduled send time; the client abandons a request after
 * 10 s. Recovery: seconds after the burst until every later second serves ≥ 95 % of its requests
 * within the SLO.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { printTable, reportTarget } from '@beamline/bench-kit'
import type { PhaseResult } from './overload-load.js'

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback
const SECONDS = Number(arg('seconds', '15'))
const CONTENDERS = arg('contenders', 'none,under-pressure,beamline,beamline-20ms').split(',')
const RECOVERY_SECONDS = 20

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

interface ServerStats {
  queued: number
  maxRssBytes: number
  /** p99 of admitted requests inside the server since the previous /_stats. */
  serverP99: number
}

async function serverStats(url: string): Promise<ServerStats> {
  return (await fetch(`${url}/_stats`)).json() as Promise<ServerStats>
}

async function drain(url: string): Promise<void> {
  const end = Date.now() + 60_000
  while ((await serverStats(url)).queued > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 200))
}

async function phase(url: string, rate: number, ms: number): Promise<PhaseResult> {
  const [result] = await ask<PhaseResult[]>(load, { kind: 'open', url, segments: [{ rate, ms }] })
  return result!
}

function recoverySeconds(r: PhaseResult): number {
  let lastBad = -1
  for (let s = 0; s < r.sentBySecond.length; s++) {
    if (r.goodBySecond[s]! < 0.95 * r.sentBySecond[s]!) lastBad = s
  }
  return lastBad === r.sentBySecond.length - 1 ? Number.POSITIVE_INFINITY : lastBad + 1
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

const load = fork(here('./overload-load.js'), [], { stdio: 'inherit' })
const rows: Row[] = []
const summary = new Map<string, { rssMb: number; recovery: number; unloadedP99: number }>()
let capacity = 0

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
    await phase(url, capacity * 0.5, 3_000)
    await drain(url)
    light.set(contender, await phase(url, capacity * 0.25, 5_000))
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
  for (const [contender, url] of servers) {
    const { maxRssBytes } = await serverStats(url)
    summary.set(contender, {
      rssMb: maxRssBytes / 2 ** 20,
      recovery: recovery.get(contender)!,
      unloadedP99: light.get(contender)!.p99,
    })
  }
} finally {
  load.kill()
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

const at3 = (c: string) => rows.find((r) => r.contender === c && r.load === '3×')
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
for (const name of CONTENDERS.filter((c) => c.startsWith('beamline'))) {
  const b = at3(name)
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
  const up = at3('under-pressure')
  if (up)
    reportTarget(
      `${name} goodput > under-pressure at 3×`,
      b.goodput > up.goodput,
      `${b.goodput.toFixed(0)} vs ${up.goodput.toFixed(0)} req/s`,
    )
}
const none = at3('none')
if (none)
  reportTarget(
    'no protection collapses at 3×',
    none.goodput < 0.5 * capacity,
    `${none.goodput.toFixed(0)} req/s goodput`,
  )
