/** The incident the demo replays, and the numbers it is calibrated with. */

export type PhaseName = 'warm-up' | 'normal' | 'burst' | 'slowdown' | 'recovery'

export interface Phase {
  readonly name: PhaseName
  /** Whole seconds (the live line and the report are per second). */
  readonly seconds: number
  /** Requests per second the load generator offers, open loop. */
  readonly rps: number
  /** APNs latency during the phase, ms (FCM stays at 5 ms). */
  readonly apnsLatencyMs: number
  /** What happens, for the report. */
  readonly what: string
}

/**
 * Pool of 8 db connections, 2 queries of 40 ms per message: 100 messages/s whatever the CPU, low
 * enough that a 4× burst stays cheap to refuse on a shared 2-core machine.
 */
export const DB_POOL = 8
export const DB_QUERY_MS = 40
export const CAPACITY_RPS = DB_POOL / ((2 * DB_QUERY_MS) / 1000)
export const NORMAL_PROVIDER_MS = 5
export const SLOW_PROVIDER_MS = 400
/** Sessions in every room; each stored message is delivered to all of them (Manifold over the workers). */
export const MEMBERS_PER_ROOM = 100
/** A phone gives up on a request after this long. */
export const CLIENT_TIMEOUT_MS = 5000
export const DEFAULT_DURATION_S = 60

const BASE: readonly Omit<Phase, 'seconds'>[] = [
  { name: 'warm-up', rps: CAPACITY_RPS / 4, apnsLatencyMs: NORMAL_PROVIDER_MS, what: 'light traffic' },
  { name: 'normal', rps: CAPACITY_RPS / 2, apnsLatencyMs: NORMAL_PROVIDER_MS, what: 'half of capacity' },
  { name: 'burst', rps: CAPACITY_RPS * 4, apnsLatencyMs: NORMAL_PROVIDER_MS, what: '4× capacity' },
  {
    name: 'slowdown',
    rps: CAPACITY_RPS / 2,
    apnsLatencyMs: SLOW_PROVIDER_MS,
    what: `APNs latency ${NORMAL_PROVIDER_MS} → ${SLOW_PROVIDER_MS} ms`,
  },
  { name: 'recovery', rps: CAPACITY_RPS / 2, apnsLatencyMs: NORMAL_PROVIDER_MS, what: 'back to normal' },
]
/** Share of each phase in the default 60 s run. */
const SHARES = [6, 12, 12, 15, 15]

/**
 * The phases scaled to `durationS` seconds in total, each at least 1 s; whole seconds are handed
 * out by largest remainder so that the total is exact.
 */
export function scenario(durationS = DEFAULT_DURATION_S): Phase[] {
  const total = SHARES.reduce((a, b) => a + b, 0)
  const exact = SHARES.map((s) => Math.max(1, (s * durationS) / total))
  const seconds = exact.map(Math.floor)
  let left = Math.round(durationS) - seconds.reduce((a, b) => a + b, 0)
  const byRemainder = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0])
  for (const [, i] of byRemainder) if (left-- > 0) seconds[i]!++
  return BASE.map((p, i) => ({ ...p, seconds: seconds[i]! }))
}
