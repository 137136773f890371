/*
 * Invariants: on a simulated downstream with a known concurrency knee (fixtures/simulation.ts, a
 * deterministic clock, ±15 % RTT noise), every adaptive algorithm
 *  - settles within ±25 % of the knee from initialLimit 20 in a bounded number of samples, and stays
 *    (but for its probes: two windows at four fifths of the limit every ~5 s);
 *  - comes back down to within ±25 % of the new knee after the knee halves, in a bounded number;
 * gradient2 and vegas also, when the downstream gets twice as slow at every concurrency (its no-load
 * RTT doubles), re-learn the baseline and return to the knee instead of sitting at minLimit, and,
 * started far above the knee (every RTT they see at first is a queued one), find it; and the
 * 'fixed' algorithm never moves.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, mock, test } from 'node:test'
import { AdaptiveLimit, type AlgorithmName } from '../src/index.js'
import { Clock, Downstream } from './fixtures/simulation.js'

const BOUND = 40_000

beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setTimeout'] }))
afterEach(() => mock.timers.reset())

function start(algorithm: AlgorithmName, knee: number, initialLimit = 20) {
  const clock = new Clock()
  const limit = new AdaptiveLimit({
    name: `sim-${algorithm}`,
    algorithm,
    initialLimit,
    now: clock.now,
    queue: false,
  })
  return { limit, downstream: new Downstream(limit, clock, knee) }
}

function assertSettled(d: Downstream, since: number, knee: number, what: string, bound = BOUND): void {
  const samples = d.settledAfter(since, 0.75 * knee, 1.25 * knee)
  const tail = d.history.slice(-10).map((h) => h.limit)
  assert.ok(samples !== undefined, `${what}: never settled within ±25 % of ${knee}; last limits ${tail}`)
  assert.ok(samples <= bound, `${what}: took ${samples} samples (bound ${bound})`)
}

for (const algorithm of ['gradient2', 'vegas', 'aimd'] as const) {
  test(`${algorithm} settles within ±25 % of the knee, and follows it when it halves`, () => {
    const { limit, downstream } = start(algorithm, 40)
    downstream.run(30_000)
    assertSettled(downstream, 0, 40, `${algorithm} knee 40`)
    downstream.knee = 20
    downstream.run(30_000)
    assertSettled(downstream, 30_000, 20, `${algorithm} knee 40 → 20`)
    const s = limit.stats()
    assert.ok(s.windows > 100, 'the update ran in windows')
    assert.equal(s.acquired, s.succeeded + s.dropped + s.inFlight)
  })
}

for (const algorithm of ['gradient2', 'vegas'] as const) {
  test(`${algorithm} re-learns the no-load RTT when the downstream gets slower, without pinning`, () => {
    const { limit, downstream } = start(algorithm, 40)
    downstream.run(20_000)
    const before = limit.stats().minRttMs
    downstream.baseMs = 20
    downstream.run(30_000)
    assertSettled(downstream, 20_000, 40, `${algorithm} after the slowdown`)
    const after = limit.stats().minRttMs
    assert.ok(after > 1.6 * before, `baseline ${before} → ${after}`)
    const lowest = Math.min(...downstream.history.filter((h) => h.t > 20_000).map((h) => h.limit))
    assert.ok(lowest > limit.stats().minLimit, `the limit fell to its floor (${lowest})`)
  })
}

for (const algorithm of ['gradient2', 'vegas'] as const) {
  test(`${algorithm} started far above the knee finds it: its first RTTs are all queued ones`, () => {
    const { downstream } = start(algorithm, 20, 200)
    // Latency only: nothing refuses, so nothing but probing down can show a lower RTT.
    downstream.refuseAbove = Number.POSITIVE_INFINITY
    downstream.run(90_000)
    // Ten times the knee in flight takes samples ten times as fast: a bound in proportion.
    assertSettled(downstream, 0, 20, `${algorithm} from 200 to knee 20`, 10 * BOUND)
  })
}

test('fixed never moves', () => {
  const { limit, downstream } = start('fixed', 40)
  downstream.run(10_000)
  assert.ok(downstream.history.every((h) => h.limit === 20))
  assert.ok(limit.stats().windows > 10)
})

for (const algorithm of ['gradient2', 'vegas'] as const) {
  test(`${algorithm}: no creep under sustained overload, of the limit or the baseline (Netflix PR #134, Envoy PR #11579)`, () => {
    const { limit, downstream } = start(algorithm, 40)
    // Latency only: nothing refuses, so only the RTT can hold the limit down.
    downstream.refuseAbove = Number.POSITIVE_INFINITY
    downstream.run(20_000)
    const baseline = limit.stats().minRttMs
    downstream.run(300_000)
    const late = downstream.history.filter((h) => h.t > 20_000).map((h) => h.limit)
    assert.ok(Math.max(...late) <= 1.25 * 40, `the limit crept up to ${Math.max(...late)}`)
    assert.ok(limit.stats().minRttMs <= 1.1 * baseline, `baseline ${baseline} → ${limit.stats().minRttMs}`)
  })
}

for (const algorithm of ['gradient2', 'vegas', 'aimd'] as const) {
  test(`${algorithm}: when every call times out alike, the limit falls instead of growing (Netflix #137)`, () => {
    const { limit, downstream } = start(algorithm, 40)
    downstream.run(10_000)
    // Every request now hangs until the client's 5 s timeout: the same RTT for all, all dropped.
    downstream.refuseAbove = 0
    downstream.refuseAfterMs = 5_000
    downstream.run(5_000)
    const at = limit.limit
    downstream.run(120_000)
    const after = downstream.history.filter((h) => h.t > 15_000).map((h) => h.limit)
    assert.ok(Math.max(...after) <= at, `the limit grew to ${Math.max(...after)} from ${at}`)
    assert.ok(limit.limit <= at / 2, `the limit only fell from ${at} to ${limit.limit}`)
  })
}
