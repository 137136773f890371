#!/usr/bin/env node
/**
 * `npm run demo [-- --no-protection | --compare] [-- --duration 60] [-- --out DIR]`
 *
 * Replays an overload incident against the chat service: starts a push provider, the service, the
 * sidecar and an open-loop load generator as separate processes; runs warm-up, normal load, a burst
 * at 4× capacity, a provider slowdown and recovery; prints one line per second and writes a
 * self-contained HTML report. `--compare` runs the scenario with protection, then without, and
 * writes one report with the two side by side on the same scales. Ctrl-C stops every child process
 * and removes the demo's temporary directory, whichever way the demo ends.
 */
// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { SNAPSHOT_PATH, type Snapshot } from '@beamline/exporter'
import { Client, request } from 'undici'
import { endLive, printRow, say } from './demo/live.js'
import type { LoadPlan, PhaseTotals, SecondStats } from './demo/load-generator.js'
import { type ReportRun, renderReport } from './demo/report.js'
import {
  CAPACITY_RPS,
  CLIENT_TIMEOUT_MS,
  DB_QUERY_MS,
  DEFAULT_DURATION_S,
  MEMBERS_PER_ROOM,
  type Phase,
  type PhaseName,
  scenario,
} from './demo/scenario.js'
import { fanoutExact, fanoutOutcome, percentile, RECOVERY, type Row, summarize } from './demo/summary.js'
import type { FanoutStats } from './fanout-stats.js'

const { values: args } = parseArgs({
  options: {
    'no-protection': { type: 'boolean', default: false },
    compare: { type: 'boolean', default: false },
    duration: { type: 'string', default: String(DEFAULT_DURATION_S) },
    out: { type: 'string' },
    'socket-dir': { type: 'string' },
  },
})
const durationS = Number(args.duration)
if (!Number.isInteger(durationS) || durationS < 10 || durationS > 600) {
  process.stderr.write(
    `demo: --duration must be a whole number of seconds from 10 to 600, got ${args.duration}\n`,
  )
  process.exit(2)
}
if (args.compare && args['no-protection']) {
  process.stderr.write('demo: --compare runs both scenarios; leave out --no-protection\n')
  process.exit(2)
}
/** With protection or not, in the order they run. */
const scenarios = args.compare ? [true, false] : [!args['no-protection']]
const phases = scenario(durationS)
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const outDir = resolve(args.out ?? here('../../../../reports'))
const ownDir = args['socket-dir'] === undefined
const socketDir = ownDir ? mkdtempSync(join(tmpdir(), 'beamline-demo-')) : resolve(args['socket-dir']!)
// On every way out (the end, an error, Ctrl-C): the 'exit' event comes with process.exit too.
if (ownDir) process.once('exit', () => rmSync(socketDir, { recursive: true, force: true }))

const children = new Map<ChildProcess, string>()
/** Children told to stop: their exit is expected. */
const stopped = new WeakSet<ChildProcess>()
let stopping = false
/** Rejects the scenario that is running: a child died, a start timed out, or Ctrl-C. */
let abort!: (reason: Error) => void
const aborted = new Promise<never>((_, reject) => (abort = reject))
aborted.catch(() => {})

class Interrupted extends Error {}

function start(name: string, child: ChildProcess): ChildProcess {
  children.set(child, name)
  child.once('exit', (code, signal) => {
    children.delete(child)
    // A moment's grace: Ctrl-C in a terminal reaches the children too, and the demo's own SIGINT
    // should win over their exits (an interruption, not a failure).
    const why = `${name} exited unexpectedly (${signal ?? `code ${code}`})`
    if (!stopped.has(child)) setTimeout(() => abort(new Error(why)), 200)
  })
  return child
}

/** The first IPC message `{ ready }` of a forked child. */
async function ready<T>(child: ChildProcess, name: string): Promise<T> {
  const timer = setTimeout(() => abort(new Error(`${name} did not start within 20 s`)), 20_000)
  const [msg] = (await once(child, 'message')) as [{ ready: T }]
  clearTimeout(timer)
  return msg.ready
}

/** SIGTERM to every child still running, SIGKILL to any still there after 5 s. */
async function stopChildren(): Promise<void> {
  await Promise.all(
    [...children.keys()].map(async (child) => {
      stopped.add(child)
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }),
  )
}

/** What one scenario measured: per second, and per phase by send time once the load generator is done. */
interface Run {
  readonly protect: boolean
  readonly rows: Row[]
  readonly latencies: number[][]
  totals?: PhaseTotals[]
  /** The push providers' origins, the keys of the bulkhead's rows. */
  providers?: { apns: string; fcm: string }
  /** The service's room broadcasts, read once the load generator is done. */
  fanout?: FanoutStats
}

const runs: Run[] = []
const startedAt = new Date()

/** Stops everything, writes the report of what was measured, and exits. */
async function finish(error?: Error): Promise<never> {
  stopping = true
  endLive()
  if (error instanceof Interrupted) say('demo: interrupted; stopping every process')
  else if (error) say(`demo: ${error.message}; stopping`)
  await stopChildren()
  if (runs.some((r) => r.rows.length > 0)) writeReport(error !== undefined)
  process.exit(error instanceof Interrupted ? 130 : error ? 1 : 0)
}
// One stop, whatever signals follow: `npm run` passes Ctrl-C on to the demo, which the terminal
// also sends it, and a second signal must not cut the stop short (it left the temp dir behind).
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    if (!stopping) abort(new Interrupted(signal))
  })

function writeReport(interrupted: boolean): void {
  const measured = runs.filter((r) => r.rows.length > 0)
  const reportRuns: ReportRun[] = measured.map((r) => ({
    protect: r.protect,
    rows: r.rows,
    summaries: summarize(phases, r.rows, r.latencies, r.totals),
    ...(r.fanout ? { fanout: r.fanout } : {}),
  }))
  const cpu = cpus()
  const html = renderReport({
    startedAt: startedAt.toISOString().replace('T', ' ').slice(0, 19),
    durationS,
    capacityRps: CAPACITY_RPS,
    dbQueryMs: DB_QUERY_MS,
    machine: `${cpu.length} CPU${cpu.length === 1 ? '' : 's'}${cpu[0] ? ` (${cpu[0].model.trim()})` : ''}, Node ${process.version}`,
    phases,
    runs: reportRuns,
    interrupted,
  })
  mkdirSync(outDir, { recursive: true })
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  const kind = args.compare ? '-compare' : scenarios[0] ? '' : '-unprotected'
  const file = join(outDir, `demo-${stamp}${kind}.html`)
  writeFileSync(file, html)
  for (const run of reportRuns) {
    say('')
    if (reportRuns.length > 1 || !run.protect) say(run.protect ? 'with protection:' : 'without protection:')
    for (const s of run.summaries) say(`${s.name.padEnd(9)} ${s.outcome}`)
    if (run.fanout) say(`fan-out   ${fanoutOutcome(run.fanout)}`)
  }
  say('')
  say(`recovery: ${RECOVERY}`)
  say(`report: ${file}`)
  if (!args.compare) say('compare side by side: npm run demo -- --compare')
}

/** Starts every process of one scenario, replays the incident, and stops them. */
async function runScenario(run: Run, index: number): Promise<void> {
  const { protect } = run
  say(
    `beamline demo ${protect ? 'with protection' : 'WITHOUT protection (--no-protection)'}: ` +
      `${durationS} s, capacity ≈ ${CAPACITY_RPS} messages/s (8 db connections × 2 queries of ${DB_QUERY_MS} ms; twice that with the optional query skipped under pressure), ` +
      `each stored message broadcast to its room's ${MEMBERS_PER_ROOM} members`,
  )
  const socketPath = join(socketDir, `chat-service-${process.pid}-${index}.sock`)
  const provider = start('push provider', fork(here('./demo/push-provider.js'), { stdio: 'inherit' }))
  const { urls } = await ready<{ urls: { apns: string; fcm: string } }>(provider, 'push provider')
  run.providers = urls

  const serviceArgs = [
    '--apns',
    urls.apns,
    '--fcm',
    urls.fcm,
    '--socket',
    socketPath,
    '--db-query-ms',
    String(DB_QUERY_MS),
    '--members',
    String(MEMBERS_PER_ROOM),
  ]
  if (!protect) serviceArgs.push('--no-protection')
  const service = start('chat service', fork(here('./main.js'), serviceArgs, { stdio: 'inherit' }))
  const { url, exporterUrl } = await ready<{ url: string; exporterUrl: string }>(service, 'chat service')

  const sidecarCli = fileURLToPath(new URL('./cli.js', import.meta.resolve('@beamline/sidecar')))
  const sidecar = start(
    'sidecar',
    spawn(process.execPath, [sidecarCli, '--target', exporterUrl, '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  )
  const sidecarUrl = await new Promise<string>((resolveUrl) => {
    let seen = ''
    sidecar.stderr!.setEncoding('utf8')
    sidecar.stderr!.on('data', (chunk: string) => {
      seen = (seen + chunk).slice(-4096)
      const m = /serving (http:\/\/\S+)\/metrics/.exec(seen)
      if (m) resolveUrl(m[1]!)
    })
  })

  const snapshots = new Client('http://localhost', { socketPath, headersTimeout: 900, bodyTimeout: 900 })
  let last: Snapshot | undefined
  const snapshot = async (): Promise<Snapshot | undefined> => {
    try {
      const { statusCode, body } = await snapshots.request({ path: SNAPSHOT_PATH, method: 'GET' })
      if (statusCode === 200) last = (await body.json()) as Snapshot
      else await body.dump()
    } catch {
      // a busy or stuck service answers late: keep the previous reading for this second
    }
    return last
  }

  const loadgen = start('load generator', fork(here('./demo/load-generator.js'), { stdio: 'inherit' }))
  say(`service   ${url}  (exporter ${exporterUrl})`)
  say(`sidecar   ${sidecarUrl}/  ← live status page; metrics at ${sidecarUrl}/metrics`)
  say(`top       npx beamline-sidecar top --url ${sidecarUrl}  ← the longest queues, in another terminal`)
  say(
    `pids: provider=${provider.pid} service=${service.pid} sidecar=${sidecar.pid} loadgen=${loadgen.pid} demo=${process.pid}`,
  )

  let work = Promise.resolve()
  let shownPhase = ''
  const done = new Promise<void>((resolveDone) => {
    loadgen.on(
      'message',
      (msg: { phase?: PhaseName; second?: SecondStats; done?: { totals: PhaseTotals[] } }) => {
        // Messages are handled in order, one at a time (each second awaits a snapshot).
        work = work.then(async () => {
          if (msg.phase) {
            const phase = phases.find((p) => p.name === msg.phase)!
            provider.send({ latencyMs: { apns: phase.apnsLatencyMs } })
          } else if (msg.second) {
            // The header goes with the phase's first row: the previous phase's last second arrives
            // after the new phase has started.
            if (msg.second.phase !== shownPhase) {
              const phase = phases.find((p) => p.name === msg.second!.phase)!
              shownPhase = phase.name
              say(`── ${phase.name}: ${phase.what}, ${phase.rps} requests/s for ${phase.seconds} s`)
            }
            run.rows.push(toRow(msg.second, run, await snapshot()))
            printRow(run.rows.at(-1)!, durationS)
          } else if (msg.done) {
            run.totals = msg.done.totals
            resolveDone()
          }
        })
      },
    )
  })
  const plan: LoadPlan = { target: url, phases: phases as Phase[], timeoutMs: CLIENT_TIMEOUT_MS }
  loadgen.send({ start: plan })
  try {
    await done
  } finally {
    await snapshots.close().catch(() => {})
  }
  run.fanout = await settledFanout(url)
  await stopChildren()
}

/**
 * The service's fan-out counters at a moment when no broadcast is in flight (deliveries caught up with
 * recipients), read for up to 3 s; else the last reading (a service still storing its backlog).
 */
async function settledFanout(url: string): Promise<FanoutStats | undefined> {
  let last: FanoutStats | undefined
  for (const deadline = Date.now() + 3000; Date.now() < deadline; ) {
    try {
      const { statusCode, body } = await request(`${url}/fanout`, { headersTimeout: 1000, bodyTimeout: 1000 })
      if (statusCode === 200) last = (await body.json()) as FanoutStats
      else await body.dump()
    } catch {
      // a busy service answers late: try again
    }
    if (last && fanoutExact(last)) return last
    await new Promise((r) => setTimeout(r, 100))
  }
  return last
}

function toRow(s: SecondStats, run: Run, snap: Snapshot | undefined): Row {
  const lat = s.latencies.sort((a, b) => a - b)
  run.latencies[s.t] = lat
  const db = snap?.semaphores.find((x) => x.name === 'db')
  const door = snap?.limits?.find((x) => x.name === 'http')
  const apns = snap?.undici.bulkheads.find((b) => b.key === run.providers?.apns)
  const longest = snap?.mailboxes?.longest
  return {
    t: s.t,
    phase: s.phase as PhaseName,
    offered: s.offered,
    admitted: s.ok,
    shed: s.shed,
    failed: s.failed + s.timedOut,
    p50: percentile(lat, 0.5),
    p99: percentile(lat, 0.99),
    queued: snap?.mailboxes?.totals.queued ?? 0,
    longest: longest?.length ?? 0,
    longestName: longest?.name ?? '',
    level: snap?.pressure?.level ?? 0,
    score: Math.round((snap?.pressure?.score ?? 0) * 100) / 100,
    reason: snap?.pressure?.reasons[0]?.signal ?? '',
    dbInUse: db?.inUse ?? 0,
    dbWaiting: db?.waiting ?? 0,
    dbMax: db?.max ?? 0,
    limit: door?.limit ?? 0,
    limitInFlight: door?.inFlight ?? 0,
    limitQueued: door?.queued ?? 0,
    apnsLimit: apns?.limit ?? 0,
    rssMb: Math.round((snap?.runtime.rssBytes ?? 0) / 2 ** 20),
  }
}

// --- run every scenario -----------------------------------------------------------------------

try {
  for (const [i, protect] of scenarios.entries()) {
    if (i > 0) say('')
    const run: Run = { protect, rows: [], latencies: [] }
    runs.push(run)
    await Promise.race([runScenario(run, i), aborted])
  }
} catch (err) {
  await finish(err as Error)
}
await finish()
