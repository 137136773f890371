/*
 * Invariant: every bad option is refused at construction with ERR_BEAMLINE_INVALID_OPTION, naming
 * the option (as written, e.g. `queue.codel.targetMs`) and the accepted range; nothing is created.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AdaptiveLimit, type AdaptiveLimitOptions, httpLimiter, InvalidOptionError } from '../src/index.js'

const cases: [string, unknown, RegExp][] = [
  ['options', null, /must be an object/],
  ['name', {}, /non-empty string/],
  ['name', { name: '' }, /non-empty string/],
  ['algorithm', { name: 'x', algorithm: 'bbr' }, /one of 'gradient2', 'vegas', 'aimd', 'fixed'/],
  ['minLimit', { name: 'x', minLimit: 0 }, /integer from 1/],
  ['maxLimit', { name: 'x', maxLimit: 2 ** 31 }, /integer from 1 to 1073741824/],
  ['minLimit', { name: 'x', minLimit: 50, maxLimit: 10 }, /≤ maxLimit \(10\), got 50/],
  ['initialLimit', { name: 'x', minLimit: 5, maxLimit: 10, initialLimit: 20 }, /from 5 to 10, got 20/],
  ['initialLimit', { name: 'x', initialLimit: 2.5 }, /integer/],
  ['queue', { name: 'x', queue: 5 }, /must be an object/],
  ['queue.maxWaiters', { name: 'x', queue: { maxWaiters: -1 } }, /integer from 0/],
  ['queue.maxWaitMs', { name: 'x', queue: { maxWaitMs: 0 } }, /> 0/],
  [
    'queue.codel.targetMs',
    { name: 'x', queue: { codel: { targetMs: 100, intervalMs: 100 } } },
    /< queue.codel.intervalMs \(100\), got 100/,
  ],
  [
    'queue.codel.targetMs',
    { name: 'x', queue: { codel: { targetMs: 200 } } },
    /< queue.codel.intervalMs \(100\)/,
  ],
  ['queue.codel.intervalMs', { name: 'x', queue: { codel: { intervalMs: -1 } } }, /> 0/],
  ['queue.codel', { name: 'x', queue: { codel: true } }, /must be an object/],
  ['queue.lifoWhenStanding', { name: 'x', queue: { lifoWhenStanding: 'yes' } }, /boolean/],
  ['partitions', { name: 'x', partitions: { a: 0.5, b: 0.4 } }, /sum to 1 \(±0.001\), got 0.9/],
  ['partitions', { name: 'x', partitions: {} }, /from 1 to 8 partitions, got 0/],
  [
    'partitions',
    { name: 'x', partitions: Object.fromEntries('abcdefghi'.split('').map((p) => [p, 1 / 9])) },
    /got 9/,
  ],
  ['partitions.a', { name: 'x', partitions: { a: 1.5, b: -0.5 } }, /≥ 0 and ≤ 1, got 1.5/],
  ['partitions', { name: 'x', partitions: [0.5, 0.5] }, /must be an object/],
  ['maxThreads', { name: 'x', maxThreads: 0 }, /integer from 1 to 4096/],
  ['now', { name: 'x', now: 5 }, /function/],
]

for (const [option, options, message] of cases) {
  test(`bad ${option}: ${JSON.stringify(options)}`, () => {
    assert.throws(
      () => new AdaptiveLimit(options as AdaptiveLimitOptions),
      (e: unknown) =>
        e instanceof InvalidOptionError &&
        e.code === 'ERR_BEAMLINE_INVALID_OPTION' &&
        e.option === option &&
        message.test(e.message),
    )
  })
}

test('good edges are accepted', () => {
  assert.equal(
    new AdaptiveLimit({ name: 'x', minLimit: 30 }).limit,
    30,
    'initialLimit 20 clamped into the range',
  )
  assert.equal(new AdaptiveLimit({ name: 'x', maxLimit: 5 }).limit, 5)
  assert.equal(new AdaptiveLimit({ name: 'x', queue: false }).stats().queued, 0)
  assert.ok(new AdaptiveLimit({ name: 'x', partitions: { a: 0.3333, b: 0.3333, c: 0.3333 } }))
  assert.ok(new AdaptiveLimit({ name: 'x', queue: { codel: false, maxWaiters: 0 } }))
})

test('httpLimiter options', () => {
  const limit = new AdaptiveLimit({ name: 'x' })
  const parted = new AdaptiveLimit({ name: 'p', partitions: { a: 0.5, b: 0.5 } })
  for (const [option, make] of [
    ['limit', () => httpLimiter({} as never)],
    ['retryAfterSeconds', () => httpLimiter(limit, { retryAfterSeconds: -1 })],
    ['exempt', () => httpLimiter(limit, { exempt: '/x' as never })],
    ['route', () => httpLimiter(limit, { route: 'x' as never })],
    ['partition', () => httpLimiter(limit, { partition: 'a' as never })],
    ['partition', () => httpLimiter(parted)],
    ['pressure', () => httpLimiter(limit, { pressure: {} as never })],
  ] as const) {
    assert.throws(make, (e: unknown) => e instanceof InvalidOptionError && e.option === option, option)
  }
})
