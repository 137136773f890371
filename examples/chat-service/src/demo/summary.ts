/** Per-second rows, per-phase summaries and the one-sentence outcome of each phase, from the data. */
import type { FanoutStats } from '../fanout-stats.js'
import type { PhaseTotals } from './load-generator.js'
import type { Phase, PhaseName } from './scenario.js'

/** One second of the run: what the clients saw, plus the service's own snapshot at that second. */
export interface Row {
  t: number
  phase: PhaseName
  offered: number
  admitted: number
  shed: number
  /** errors and client timeouts */
  failed: number
  /** admitted latency, ms; null when nothing was admitted */
  p50: number | null
  p99: number | null
  queued: number
  longest: number
  longestName: string
  level: number
  score: number
  /** strongest pressure signal, '' at level 0 */
  reason: string
  dbInUse: number
  dbWaiting: number
  dbMax: number
  /** The door's adaptive limit, its tokens held and its waiters (0 without protection) */
  limit: number
  limitInFlight: number
  limitQueued: number
  /** The adaptive bulkhead's limit towards APNs (0 without protection or before the first push) */
  apnsLimit: number
  rssMb: number
}

export interface PhaseSummary {
  name: PhaseName
  what: string
  seconds: number
  offeredRps: number
  admittedRps: number
  shedRps: number
  failedRps: number
  shedShare: number
  failedShare: number
  /** requests of the phase still unanswered when the run ended (counted in failed) */
  unfinished: number
  p50: number | null
  p99: number | null
  maxQueued: number
  maxLongest: number
  longestName: string
  maxLevel: number
  reason: string
  maxDbWaiting: number
  /** Seconds from the phase start to its first run of `RECOVERY_SECONDS` healthy seconds; null if none. */
  settledAfter: number | null
  outcome: string
}

export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** Seconds in a row that make a recovery (fewer when the phase ends sooner). */
export const RECOVERY_SECONDS = 3
/** The normal band reaches at least this many times the normal phase's p99. */
export const BAND_FACTOR = 1.5
/** How recovery is measured, as the demo and its report state it. */
export const RECOVERY =
  `the first second from which ${RECOVERY_SECONDS} s in a row are healthy: per-second p99 within the normal band ` +
  `(up to the highest per-second p99 of the normal phase, and at least ${BAND_FACTOR}× that phase's p99) ` +
  'and no request refused or failed'

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0)
const max = (xs: readonly number[]) => xs.reduce((a, b) => Math.max(a, b), 0)

export function ms(v: number | null): string {
  if (v === null) return '—'
  return v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`
}
const pct = (share: number) => `${Math.round(share * 100)} %`
const LEVELS = ['ok', 'throttle', 'shed']

/**
 * Requests are attributed to the phase in which they were sent (`totals`, from the load generator);
 * without totals (an interrupted run) to the second in which they finished (`rows`, `latencies[t]`).
 * Queues, pressure and recovery come from the per-second rows.
 */
export function summarize(
  phases: readonly Phase[],
  rows: readonly Row[],
  latencies: readonly (readonly number[])[],
  totals?: readonly PhaseTotals[],
): PhaseSummary[] {
  // Normal latency: the p99 of every request admitted in the normal phase (50 ms if there is none).
  const normalRows = rows.filter((r) => r.phase === 'normal')
  const normal = normalRows.flatMap((r) => latencies[r.t] ?? []).sort((a, b) => a - b)
  const baseP99 = percentile(normal, 0.99) ?? 50
  // A healthy second: nothing refused or failed, and p99 within the normal band. A second's p99 of
  // ~50 requests is near their maximum, noisier than the phase's p99: the band reaches the worst
  // second the normal phase had.
  const healthyP99 = Math.max(BAND_FACTOR * baseP99, ...normalRows.map((r) => r.p99 ?? 0))
  const healthy = (r: Row) => r.shed === 0 && r.failed === 0 && (r.p99 === null || r.p99 <= healthyP99)
  return phases.flatMap((phase, i) => {
    const rs = rows.filter((r) => r.phase === phase.name)
    if (rs.length === 0) return []
    const n = rs.length
    const sent = totals?.[i]
    const lat = (sent ? [...sent.latencies] : rs.flatMap((r) => latencies[r.t] ?? [])).sort((a, b) => a - b)
    const offered = sent ? sent.offered : sum(rs.map((r) => r.offered))
    const admitted = sent ? sent.ok : sum(rs.map((r) => r.admitted))
    const shed = sent ? sent.shed : sum(rs.map((r) => r.shed))
    const unfinished = sent?.unfinished ?? 0
    const failed = sent ? sent.failed + sent.timedOut + unfinished : sum(rs.map((r) => r.failed))
    const peak = rs.reduce((a, r) => (r.longest > a.longest ? r : a), rs[0]!)
    const strongest = rs.reduce((a, r) => (r.level > a.level ? r : a), rs[0]!)
    // Settled at the first second that starts RECOVERY_SECONDS healthy ones (or healthy to the end of
    // the phase, when it ends sooner): one slow second later on does not move it.
    let settled: number | null = null
    for (let i = 0; i < n && settled === null; i++) {
      const run = rs.slice(i, i + RECOVERY_SECONDS)
      if (run.every(healthy)) settled = i
    }
    const s: PhaseSummary = {
      name: phase.name,
      what: phase.what,
      seconds: n,
      offeredRps: offered / n,
      admittedRps: admitted / n,
      shedRps: shed / n,
      failedRps: failed / n,
      shedShare: offered ? shed / offered : 0,
      failedShare: offered ? failed / offered : 0,
      unfinished,
      p50: percentile(lat, 0.5),
      p99: percentile(lat, 0.99),
      maxQueued: max(rs.map((r) => r.queued)),
      maxLongest: peak.longest,
      longestName: peak.longestName,
      maxLevel: strongest.level,
      reason: strongest.reason,
      maxDbWaiting: max(rs.map((r) => r.dbWaiting)),
      settledAfter: settled,
      outcome: '',
    }
    s.outcome = outcome(s, baseP99, healthyP99)
    return [s]
  })
}

/** One sentence, chosen and filled from the numbers. */
function outcome(s: PhaseSummary, baseP99: number, healthyP99: number): string {
  const p99 = s.p99 === null ? 'no request admitted' : `admitted p99 ${ms(s.p99)}`
  const times = s.p99 === null ? '' : ` (${(s.p99 / baseP99).toFixed(1)}× normal)`
  const queues = `queues peaked at ${s.maxQueued}${s.maxLongest > 0 ? ` (longest ${s.longestName}: ${s.maxLongest})` : ''}`
  const pressure =
    s.maxLevel > 0
      ? `pressure reached ${LEVELS[s.maxLevel]} (${s.reason || 'runtime'})`
      : 'pressure stayed ok'
  const load = `${Math.round(s.offeredRps)} rps offered`
  if (s.failedShare > 0.05 || (s.p99 !== null && s.p99 > Math.max(2000, 10 * baseP99))) {
    return (
      `Degraded: of ${load}, ${Math.round(s.admittedRps)} rps were answered, ${pct(s.failedShare)} failed or timed out, ` +
      `${p99}${times}; ${queues}; ${pressure}` +
      (s.settledAfter === null ? '; it had not recovered by the end of the phase.' : '.')
    )
  }
  if (s.shedShare > 0.01) {
    return (
      `Stayed up by shedding: ${pct(s.shedShare)} of ${load} refused with 503 (at the door or after a bounded wait), ` +
      `${Math.round(s.admittedRps)} rps admitted with ${p99}${times}; ${queues}; ${pressure}` +
      (s.settledAfter !== null && s.settledAfter > 0 ? `; clean again after ${s.settledAfter} s.` : '.')
    )
  }
  if (s.settledAfter !== null && s.settledAfter > 0) {
    return `Recovered: healthy again ${s.settledAfter} s into the phase (${RECOVERY_SECONDS} s in a row with p99 ≤ ${ms(healthyP99)}, the normal band, nothing refused or failed); ${p99}${times}; ${queues}.`
  }
  if (s.settledAfter === null) {
    return `Not healthy: ${load}, ${p99}${times}; ${queues}; ${pressure}.`
  }
  return `Healthy: all of ${load} admitted, ${p99}${times}; ${queues}; ${pressure}.`
}

const count = (n: number) => n.toLocaleString('en-US')

/**
 * Whether every member got every stored message exactly once, in order: each session checks the
 * room's seq (a duplicate, gap or reordering counts out of order), so with nothing out of order and
 * as many deliveries as recipients, none is missing either.
 */
export function fanoutExact(f: FanoutStats): boolean {
  return (
    f.broadcasts === f.stored &&
    f.broadcastFailures === 0 &&
    f.recipients === f.broadcasts * f.membersPerRoom &&
    f.deliveries === f.recipients &&
    f.outOfOrder === 0
  )
}

/** The fan-out in one sentence: what was sent to whom, whether it all arrived once in order, how fast. */
export function fanoutOutcome(f: FanoutStats): string {
  if (f.membersPerRoom === 0)
    return `${count(f.stored)} messages stored; rooms have no members, nothing broadcast.`
  const sent =
    `${count(f.stored)} messages stored, ${count(f.broadcasts)} broadcast with one Manifold send each to their room's ` +
    `${count(f.membersPerRoom)} members over ${f.workers} worker channels: ${count(f.deliveries)} deliveries, ` +
    `${count(f.frames)} frames (${f.broadcasts ? (f.frames / f.broadcasts).toFixed(1) : 0} per message)`
  const latency = `store → delivery p50 ${fanoutMs(f.latencyMs.p50)}, p99 ${fanoutMs(f.latencyMs.p99)}`
  if (fanoutExact(f))
    return `${sent}; deliveries = stored × members: every member got every message exactly once, in order; ${latency}.`
  return (
    `${sent}; NOT exact: ${count(f.deliveries)} deliveries for ${count(f.recipients)} recipients, ` +
    `${count(f.outOfOrder)} out of order, ${count(f.broadcastFailures)} broadcasts failed` +
    ` (a service still working through its backlog when the run ended shows broadcasts in flight); ${latency}.`
  )
}

function fanoutMs(v: number | null): string {
  if (v === null) return '—'
  return v < 10 ? `${v.toFixed(2)} ms` : ms(v)
}
