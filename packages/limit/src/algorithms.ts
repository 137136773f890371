/**
 * The limit algorithms, as pure functions of one closed window of samples. The update (see
 * limit.ts) runs them in one thread at a time, every ~100 ms, never on the hot path; their state is
 * a few Float64s in shared memory so that any thread can run the next update.
 *
 * Every algorithm is told the same things about a window: the mean RTT of the tokens that ended
 * with success(), how many ended with dropped(), whether demand exceeded the limit (something was
 * refused or queued), and how much of the limit was in use. Each returns the new real-valued limit;
 * the integer limit is its floor, clamped to [minLimit, maxLimit].
 *
 * The no-load RTT (`baseline`) is shared by gradient2 and vegas and is where the peers' complaints
 * come from, so it follows three rules:
 *  1. It moves down towards any faster window (fast), and up only from windows in which the limit
 *     was not binding (slowly): RTT that rises while requests queue at our limit is our own queue,
 *     not the downstream getting slower. That is what lets Gradient2's long RTT, and Vegas' probed
 *     no-load RTT, creep up under sustained load and take the limit with them (Netflix PR #134;
 *     Envoy PR #11579).
 *  2. When the RTT does not follow the limit down — the limit was cut to half while the RTT fell by
 *     less than a quarter, or it sat at minLimit for 5 windows — the RTT is the downstream's own and
 *     becomes the baseline (the downstream got slower: the limit must not sit at its floor forever).
 *     Throughput is no evidence here: a client sharing a downstream with others loses its share of
 *     the throughput when it cuts, above the knee as below it.
 *  3. It is never re-measured by pinning concurrency low: that is what made Envoy answer 503 while it
 *     measured (their #8337, PR #9007). Rule 2 uses the limit's own decrease as the measurement.
 *  4. A baseline first measured above the knee (a limit that starts above it sees only queued RTTs)
 *     would hold the limit there: so after 3 windows, then every ~50 (±20 %, random, so that a fleet does not
 *     probe in step) a steady limit (used, nothing dropped, not falling) is cut by a fifth for two
 *     windows. If in the second — the first lets requests admitted before the cut drain, Envoy PR
 *     #11579 — the RTT fell by at least three quarters of the cut and the throughput by less than
 *     half of it (as above the knee, where fewer requests each go faster), the limit was queueing:
 *     the baseline takes that RTT, the lower limit stays and the next probe follows at once. If not,
 *     the limit is restored. Above the knee a cut costs no
 *     throughput (fewer requests, each faster); below it, a fifth of the throughput for two windows.
 */

export interface Window {
  /** Tokens that ended with success() in this window (each one RTT sample). */
  samples: number
  /** Their mean RTT, ms; NaN when `samples` is 0. */
  rttMs: number
  /** Tokens that ended with dropped(). */
  drops: number
  /** Requests refused or queued in this window: demand exceeded the limit. */
  busy: number
  /** Mean in-flight over the window by Little's law: Σ RTT of the samples / window duration. */
  avgInFlight: number
  /** Tokens held at the window's close. */
  inFlight: number
  /** Tokens that ended with success() per millisecond, timed or not. */
  throughput: number
}

export interface Bounds {
  readonly min: number
  readonly max: number
}

/** `(state, at, limit, window, bounds) → new limit`; `state[at…at+8]` is the algorithm's own. */
export type Algorithm = (state: Float64Array, at: number, limit: number, w: Window, bounds: Bounds) => number

// Baseline state, shared by every algorithm (the updater maintains it for stats even when unused).
const BASE = 0
const REF_LIMIT = 1
const REF_RTT = 2
const AT_FLOOR = 3
const PROBE_FROM = 4
const PROBE_RTT = 5
const PROBE_IN = 6
const PROBE_PHASE = 7
const PROBE_THROUGHPUT = 8

/** Weight of a faster window in the baseline; of a slower, non-binding window. */
const BASE_DOWN = 0.2
const BASE_UP = 0.05

const clamp = (v: number, b: Bounds) => Math.max(b.min, Math.min(b.max, v))

/** Is the limit being used? Netflix's rule: growth only when at least half of it is (or demand exceeds it). */
function using(limit: number, w: Window): boolean {
  return w.busy > 0 || Math.max(w.avgInFlight, w.inFlight) >= limit / 2
}

/** Rule 1: moves the no-load RTT estimate with a window that has samples, and returns it. */
export function updateBaseline(state: Float64Array, at: number, limit: number, w: Window): number {
  const base = state[at + BASE]!
  if (!(base > 0)) return (state[at + BASE] = w.rttMs)
  if (w.rttMs < base) return (state[at + BASE] = base + (w.rttMs - base) * BASE_DOWN)
  if (w.busy === 0 && w.avgInFlight < limit / 2) return (state[at + BASE] = base + (w.rttMs - base) * BASE_UP)
  return base
}

export function baseline(state: Float64Array, at: number): number {
  return state[at + BASE]!
}

/** Rule 2, after a window whose RTT made the limit go from `limit` to `next` (`latencyDown`: because of latency). */
function relearn(
  state: Float64Array,
  at: number,
  limit: number,
  next: number,
  w: Window,
  latencyDown: boolean,
  b: Bounds,
): void {
  const rttMs = w.rttMs
  if (!latencyDown) {
    state[at + REF_LIMIT] = 0
    state[at + AT_FLOOR] = 0
    return
  }
  if (!(state[at + REF_LIMIT]! > 0)) {
    state[at + REF_LIMIT] = limit
    state[at + REF_RTT] = rttMs
  } else if (next <= state[at + REF_LIMIT]! / 2) {
    if (rttMs > 0.75 * state[at + REF_RTT]!) {
      state[at + BASE] = rttMs
      state[at + REF_LIMIT] = 0
    } else {
      state[at + REF_LIMIT] = next
      state[at + REF_RTT] = rttMs
    }
  }
  if (next <= b.min) {
    if (++state[at + AT_FLOOR]! >= 5) {
      state[at + BASE] = rttMs
      state[at + AT_FLOOR] = 0
    }
  } else state[at + AT_FLOOR] = 0
}

const PROBE_CUT = 0.8
const PROBE_EVERY = 50
const FIRST_PROBE = 3

/**
 * Rule 4. Returns the limit to use instead of the algorithm's own step (during a probe, and when
 * one ends: the lower limit kept, or the old one restored), or undefined to let the algorithm step.
 */
function probe(state: Float64Array, at: number, limit: number, w: Window, b: Bounds, steady: boolean) {
  const from = state[at + PROBE_FROM]!
  if (from > 0) {
    if (state[at + PROBE_PHASE] === 1) {
      state[at + PROBE_PHASE] = 2
      return limit
    }
    state[at + PROBE_FROM] = 0
    // Drops while probing: the downstream is failing, the algorithm backs off from the lower limit.
    if (w.drops > 0) return undefined
    // Paid: the RTT fell with the limit, and the throughput did not (as above the knee).
    const cut = 1 - PROBE_CUT
    if (
      w.rttMs <= state[at + PROBE_RTT]! * (1 - 0.75 * cut) &&
      w.throughput >= state[at + PROBE_THROUGHPUT]! * (1 - 0.5 * cut)
    ) {
      state[at + BASE] = Math.min(state[at + BASE]!, w.rttMs)
      state[at + PROBE_IN] = 1
      return limit
    }
    state[at + PROBE_IN] = Math.round(PROBE_EVERY * (0.8 + 0.4 * Math.random()))
    return from
  }
  if (!steady || limit * PROBE_CUT < b.min) return undefined
  // The first probe comes early: a new limit's first RTTs may all be queued ones.
  if (!(state[at + PROBE_IN]! > 0)) state[at + PROBE_IN] = FIRST_PROBE
  if (--state[at + PROBE_IN]! > 0) return undefined
  state[at + PROBE_FROM] = limit
  state[at + PROBE_RTT] = w.rttMs
  state[at + PROBE_THROUGHPUT] = w.throughput
  state[at + PROBE_PHASE] = 1
  return limit * PROBE_CUT
}

/** Smoothing of Gradient2's step (Netflix's default). */
const SMOOTHING = 0.2
/** RTT up to 10 % above the baseline counts as no queueing: measurement noise must not shrink the limit. */
const TOLERANCE = 1.1

/**
 * Netflix's Gradient2, corrected: `gradient = clamp(1.1 × baseline / rtt, 0.5, 1)`, new limit
 * `limit × gradient + allowance`, smoothed by 0.2. The queue allowance (`max(4, √limit)`) is added
 * only when the gradient is 1, i.e. no queueing is seen (PR #134: with it added at every step the
 * limit creeps up under modest overload, as `limit × 0.8 + 4 > limit` below 20). Dropped tokens
 * count as a gradient of `1 − drop fraction` (at least 0.5): when every call times out alike the RTT
 * is flat, and without this Gradient2 grows to its maximum (#137). No change but for drops while the
 * limit is not used (in-flight under half of it and nothing refused).
 */
export const gradient2: Algorithm = (state, at, limit, w, b) => {
  const dropGradient = Math.max(0.5, 1 - w.drops / (w.samples + w.drops))
  if (w.samples === 0) return w.drops > 0 ? clamp(limit * (1 - SMOOTHING * (1 - dropGradient)), b) : limit
  const latency = Math.max(0.5, Math.min(1, (TOLERANCE * baseline(state, at)) / w.rttMs))
  const gradient = Math.min(latency, dropGradient)
  // Steady: not in a decrease of any size worth the name.
  const probed = probe(state, at, limit, w, b, latency > 0.9 && w.drops === 0 && using(limit, w))
  if (probed !== undefined) return probed
  // A limit that is not used neither grows nor shrinks on latency (Netflix's app-limited rule): the
  // RTT of a light load says nothing about where the knee is.
  if (w.drops === 0 && !using(limit, w)) return limit
  const allowance = gradient >= 1 ? Math.max(4, Math.sqrt(limit)) : 0
  const next = clamp(limit * (1 - SMOOTHING) + (limit * gradient + allowance) * SMOOTHING, b)
  relearn(state, at, limit, next, w, latency < 1 && w.drops === 0, b)
  return next
}

const step = (limit: number) => Math.max(1, Math.log10(limit))

/**
 * TCP Vegas as Netflix adapted it: the queue the limit keeps downstream is estimated as
 * `limit × (1 − baseline / rtt)`; under `threshold` the limit grows fast (+beta), under `alpha` by
 * one step (log10), over `beta` it falls. alpha, beta and threshold are 5 %, 15 % and 2.5 % of the
 * limit (at least 2, 4 and 1): Netflix's 3/6 × log10 keeps a queue that is a large fraction of a
 * small limit. Above beta the fall is half the excess over the middle of [alpha, beta], so a halved
 * downstream is followed in a few windows rather than one log10 step at a time. A drop is a step down.
 */
export const vegas: Algorithm = (state, at, limit, w, b) => {
  if (w.samples === 0) return w.drops > 0 ? clamp(limit - step(limit), b) : limit
  if (w.drops > 0) {
    relearn(state, at, limit, limit, w, false, b)
    return clamp(limit - step(limit), b)
  }
  const alpha = Math.max(2, 0.05 * limit)
  const beta = Math.max(4, 0.15 * limit)
  const probed = probe(
    state,
    at,
    limit,
    w,
    b,
    using(limit, w) && limit * (1 - baseline(state, at) / w.rttMs) <= beta,
  )
  if (probed !== undefined) return probed
  if (!using(limit, w)) return limit
  const queue = limit * (1 - baseline(state, at) / w.rttMs)
  const threshold = Math.max(1, 0.025 * limit)
  let next = limit
  if (queue <= threshold) next = limit + beta
  else if (queue < alpha) next = limit + step(limit)
  else if (queue > beta) next = limit - Math.max(step(limit), (queue - (alpha + beta) / 2) / 2)
  next = clamp(next, b)
  relearn(state, at, limit, next, w, queue > beta, b)
  return next
}

/** Multiplicative decrease on a drop. */
const BACKOFF = 0.9

/**
 * Additive increase, multiplicative decrease, on drops only: +1 per window while the limit is used
 * and nothing dropped, `× 0.9` (at least −1) when anything dropped. It learns nothing from latency,
 * so it finds a knee only where the downstream refuses or times out past it.
 */
export const aimd: Algorithm = (_state, _at, limit, w, b) => {
  if (w.drops > 0) return clamp(Math.min(limit - 1, limit * BACKOFF), b)
  if (using(limit, w)) return clamp(limit + 1, b)
  return limit
}

/** The limit stays where it was set (`initialLimit`). */
export const fixed: Algorithm = (_state, _at, limit) => limit

export const ALGORITHM_FUNCTIONS: readonly Algorithm[] = [gradient2, vegas, aimd, fixed]
