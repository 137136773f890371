/*
 * Invariants, in one thread (the cross-thread ones are in stress.test.ts):
 *  - never more tokens than the limit; a lowered limit admits nothing until in-flight is under it;
 *  - a token ends once: a second success()/dropped()/ignore() changes nothing;
 *  - every attempt is counted exactly once: acquired + rejected + queueFull + timedOut + aborted;
 *    every token once: succeeded + dropped + ignored + inFlight = acquired;
 *  - the queue: first come first served until its oldest waiter has waited longer than targetMs, then
 *    newest first (adaptive LIFO); a waiter older than targetMs once the queue has not been empty for
 *    intervalMs is refused (CoDel), and a burst that empties it for less than targetMs does not
 *    reset that; maxWaitMs,
 *    timeoutMs, signals and maxWaiters bound it — all on a simulated clock, so nothing here depends
 *    on timing;
 *  - partitions: a share is guaranteed, an idle share is lent, a share that is asked for stops the
 *    loans, a share of 0 only borrows, and the total never exceeds the limit.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import {
  AdaptiveLimit,
  type AdaptiveLimitOptions,
  type AdaptiveLimitStats,
  InvalidHandleError,
  InvalidOptionError,
  LimitExceededError,
  LimitQueueFullError,
  LimitTimeoutError,
} from '../src/index.js'

function attempts(s: AdaptiveLimitStats): number {
  return s.acquired + s.rejected + s.queueFull + s.timedOut + s.aborted
}

function assertBalanced(limit: AdaptiveLimit, expectedAttempts: number): void {
  const s = limit.stats()
  assert.equal(attempts(s), expectedAttempts, JSON.stringify(s))
  assert.equal(s.succeeded + s.dropped + s.ignored + s.inFlight, s.acquired)
}

/** A limit on a simulated clock; timers are mocked so that `advance` moves both together. */
function simulated(options: Partial<AdaptiveLimitOptions>) {
  const clock = { t: 0 }
  const limit = new AdaptiveLimit({ name: 'test', algorithm: 'fixed', ...options, now: () => clock.t })
  const advance = (ms: number) => {
    clock.t += ms
    mock.timers.tick(ms)
  }
  return { limit, advance, clock }
}

/** `promise`, recording `name` in `order` when it resolves. */
function noted<T>(order: string[], name: string, promise: Promise<T>): Promise<T> {
  return promise.then((value) => {
    order.push(name)
    return value
  })
}

describe('tokens', () => {
  test('tryAcquire admits up to the limit, refuses at once beyond it, and counts both', () => {
    const limit = new AdaptiveLimit({ name: 't', algorithm: 'fixed', initialLimit: 3 })
    const tokens = [limit.tryAcquire(), limit.tryAcquire(), limit.tryAcquire()]
    assert.ok(tokens.every((t) => t !== undefined))
    assert.equal(limit.tryAcquire(), undefined)
    assert.equal(limit.inFlight, 3)
    tokens[0]!.success()
    tokens[1]!.dropped()
    tokens[2]!.ignore()
    assert.equal(limit.inFlight, 0)
    const s = limit.stats()
    assert.deepEqual([s.acquired, s.rejected, s.succeeded, s.dropped, s.ignored], [3, 1, 1, 1, 1])
    assertBalanced(limit, 4)
  })

  test('a token ends once: a second end does not release a second slot', () => {
    const limit = new AdaptiveLimit({ name: 't', algorithm: 'fixed', initialLimit: 1 })
    const a = limit.tryAcquire()!
    a.success()
    a.success()
    a.dropped()
    a.ignore()
    const b = limit.tryAcquire()!
    assert.equal(limit.tryAcquire(), undefined, 'the repeated ends gave back slots they did not hold')
    b.success()
    assert.equal(limit.stats().succeeded, 2)
    assert.equal(a.partition, 'default')
  })

  test('call() ends the token from the outcome', async () => {
    const limit = new AdaptiveLimit({ name: 't', algorithm: 'fixed', initialLimit: 2 })
    assert.equal(await limit.call(async () => 7), 7)
    await assert.rejects(
      limit.call(async () => {
        throw new Error('boom')
      }),
      /boom/,
    )
    await assert.rejects(
      limit.call(async () => {
        throw new DOMException('gone', 'AbortError')
      }),
      { name: 'AbortError' },
    )
    const s = limit.stats()
    assert.deepEqual([s.succeeded, s.dropped, s.ignored, s.inFlight], [1, 1, 1, 0])
  })

  test('an unknown partition is a clear error, not a silent default', async () => {
    const limit = new AdaptiveLimit({ name: 't' })
    assert.throws(
      () => limit.tryAcquire('nope'),
      (e: unknown) => e instanceof InvalidOptionError && e.option === 'partition',
    )
    await assert.rejects(limit.acquire({ partition: 'nope' }), { code: 'ERR_BEAMLINE_INVALID_OPTION' })
    limit.tryAcquire('default')!.success()
    const parted = new AdaptiveLimit({ name: 'p', partitions: { a: 0.5, b: 0.5 } })
    assert.throws(() => parted.tryAcquire(), /must be one of "a", "b"/)
  })

  test('attach: the same limit through the handle, and bad handles refused', () => {
    const limit = new AdaptiveLimit({ name: 'h', algorithm: 'fixed', initialLimit: 2 })
    const view = AdaptiveLimit.attach(structuredClone(limit.handle))
    const a = limit.tryAcquire()!
    const b = view.tryAcquire()!
    assert.equal(view.tryAcquire(), undefined)
    assert.equal(limit.inFlight, 2)
    a.success()
    b.success()
    assert.equal(view.stats().succeeded, 2)
    assert.equal(view.algorithm, 'fixed')
    for (const bad of [
      null,
      {},
      { ...limit.handle, version: 99 },
      { ...limit.handle, kind: 'beamline.semaphore' },
    ]) {
      assert.throws(() => AdaptiveLimit.attach(bad as never), InvalidHandleError)
    }
    assert.throws(
      () => AdaptiveLimit.attach({ ...limit.handle, buffer: new SharedArrayBuffer(8) }),
      InvalidHandleError,
    )
    assert.throws(() => AdaptiveLimit.attach({ ...limit.handle, partitions: ['a', 'b'] }), InvalidHandleError)
  })
})

describe('on a simulated clock', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setTimeout'] }))
  afterEach(() => mock.timers.reset())

  test('a lowered limit admits nothing until in-flight is under it, and says so with change', () => {
    const { limit, advance } = simulated({ algorithm: 'aimd', initialLimit: 10 })
    const changes: [number, number][] = []
    limit.on('change', ({ from, to }) => changes.push([from, to]))
    const held = Array.from({ length: 10 }, () => limit.tryAcquire()!)
    held.pop()!.dropped()
    held.push(limit.tryAcquire()!)
    advance(1_100) // a window with a drop closes: × 0.9
    assert.equal(limit.limit, 9)
    assert.deepEqual(changes, [[10, 9]])
    assert.equal(limit.tryAcquire(), undefined, 'admitted at 10 in flight with a limit of 9')
    held.pop()!.success()
    assert.equal(limit.tryAcquire(), undefined, 'admitted at 9 in flight with a limit of 9')
    held.pop()!.success()
    const t = limit.tryAcquire()
    assert.ok(t, 'refused at 8 in flight with a limit of 9')
    assert.equal(limit.inFlight, 9)
  })

  test('first come, first served while the queue is not standing', async () => {
    const { limit, advance } = simulated({
      initialLimit: 1,
      queue: { codel: { targetMs: 80, intervalMs: 100 } },
    })
    const order: string[] = []
    const a = limit.tryAcquire()!
    const w1 = noted(order, 'w1', limit.acquire())
    advance(10)
    const w2 = noted(order, 'w2', limit.acquire())
    advance(10)
    assert.equal(limit.stats().queued, 2)
    a.success()
    ;(await w1).success()
    ;(await w2).success()
    assert.deepEqual(order, ['w1', 'w2'])
    assertBalanced(limit, 3)
  })

  test('once its oldest waited longer than targetMs the queue serves the newest first (adaptive LIFO)', async () => {
    const { limit, advance } = simulated({
      initialLimit: 1,
      queue: { codel: { targetMs: 40, intervalMs: 100 } },
    })
    const order: string[] = []
    const a = limit.tryAcquire()!
    const w1 = noted(order, 'w1', limit.acquire()) // t=0
    advance(50)
    const w2 = noted(order, 'w2', limit.acquire()) // t=50
    advance(10) // t=60: w1 has waited 60 > 40, but the queue has not stood for 100: nobody is refused
    a.success()
    ;(await w2).success()
    ;(await w1).success()
    assert.deepEqual(order, ['w2', 'w1'])
    assertBalanced(limit, 3)
  })

  test('without lifoWhenStanding the queue stays first come, first served', async () => {
    const { limit, advance } = simulated({
      initialLimit: 1,
      queue: { codel: { targetMs: 40, intervalMs: 100 }, lifoWhenStanding: false },
    })
    const order: string[] = []
    const a = limit.tryAcquire()!
    const w1 = noted(order, 'w1', limit.acquire())
    advance(50)
    const w2 = noted(order, 'w2', limit.acquire())
    advance(10)
    a.success()
    ;(await w1).success()
    ;(await w2).success()
    assert.deepEqual(order, ['w1', 'w2'])
  })

  test('a queue not empty for intervalMs refuses waiters older than targetMs (CoDel)', async () => {
    const { limit, advance } = simulated({
      initialLimit: 1,
      queue: { codel: { targetMs: 80, intervalMs: 100 } },
    })
    const a = limit.tryAcquire()!
    const w1 = limit.acquire() // t=0: refused at max(0 + 80, 0 + 100)
    advance(50)
    const w2 = limit.acquire() // t=50: refused at max(130, 100) unless served
    advance(60) // t=110
    await assert.rejects(w1, (e: unknown) => e instanceof LimitTimeoutError && e.reason === 'codel')
    assert.equal(limit.stats().queued, 1, 'w2 has waited 60 < 80 and stays')
    a.success()
    ;(await w2).success()
    // A burst of releases that empties the queue for less than the target does not end the busy
    // period: a newcomer right after is judged as part of it.
    const b = limit.tryAcquire()!
    const w3 = limit.acquire() // t=110, the queue empty for 0 ms: still busy since t=0
    advance(81)
    await assert.rejects(w3, (e: unknown) => e instanceof LimitTimeoutError && e.reason === 'codel')
    b.success()
    const s = limit.stats()
    assert.equal(s.timedOut, 2)
    assert.equal(s.queueTime.count, s.acquired)
    assert.ok(s.queueTime.sumMs >= 60, `queue time ${s.queueTime.sumMs}`)
    assertBalanced(limit, 5)
  })

  test('maxWaitMs bounds every wait; codel: false never refuses before it', async () => {
    const { limit, advance } = simulated({ initialLimit: 1, queue: { codel: false, maxWaitMs: 500 } })
    limit.tryAcquire()
    const w = limit.acquire()
    advance(499)
    assert.equal(limit.stats().queued, 1)
    advance(1)
    await assert.rejects(
      w,
      (e: unknown) => e instanceof LimitTimeoutError && e.reason === 'maxWait' && e.waitedMs === 500,
    )
  })

  test("the caller's timeoutMs and signal", async () => {
    const { limit, advance } = simulated({ initialLimit: 1, queue: { codel: false } })
    limit.tryAcquire()
    const timed = limit.acquire({ timeoutMs: 30 })
    advance(30)
    await assert.rejects(timed, (e: unknown) => e instanceof LimitTimeoutError && e.reason === 'timeout')
    await assert.rejects(limit.acquire({ timeoutMs: 0 }), LimitTimeoutError)
    const ac = new AbortController()
    const aborted = limit.acquire({ signal: ac.signal })
    ac.abort(new Error('stop'))
    await assert.rejects(aborted, /stop/)
    await assert.rejects(limit.acquire({ signal: AbortSignal.abort(new Error('before')) }), /before/)
    const s = limit.stats()
    assert.deepEqual([s.timedOut, s.aborted, s.queued], [2, 2, 0])
    assertBalanced(limit, 5)
  })

  test('maxWaiters bounds the queue; queue: false refuses at once', async () => {
    const { limit } = simulated({ initialLimit: 1, queue: { maxWaiters: 2 } })
    limit.tryAcquire()
    void limit.acquire().catch(() => {})
    void limit.acquire().catch(() => {})
    await assert.rejects(limit.acquire(), LimitQueueFullError)
    assert.equal(limit.stats().queueFull, 1)
    const none = simulated({ initialLimit: 1, queue: false }).limit
    none.tryAcquire()
    await assert.rejects(none.acquire(), (e: unknown) => e instanceof LimitExceededError && e.current === 1)
    assert.equal(none.stats().rejected, 1)
  })
})

describe('partitions', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setTimeout'] }))
  afterEach(() => mock.timers.reset())

  const partitions = { critical: 0.2, normal: 0.5, low: 0.3 }

  test('each gets its share of the limit, rounded so that the shares sum to the limit', () => {
    const { limit } = simulated({ initialLimit: 10, partitions })
    const s = limit.stats()
    assert.deepEqual(
      Object.values(s.byPartition).map((p) => p.guaranteed),
      [2, 5, 3],
    )
    // A share too small to round to a token still gets one.
    const tiny = simulated({ initialLimit: 5, partitions: { a: 0.05, b: 0.95 } }).limit
    assert.deepEqual(
      Object.values(tiny.stats().byPartition).map((p) => p.guaranteed),
      [1, 4],
    )
  })

  test('an idle share is lent; asked for, loans stop until it is back; the total never exceeds the limit', () => {
    const { limit, advance } = simulated({ initialLimit: 10, partitions })
    const low = Array.from({ length: 10 }, () => limit.tryAcquire('low'))
    assert.ok(
      low.every((t) => t !== undefined),
      'the idle shares were not lent to low',
    )
    assert.equal(limit.tryAcquire('low'), undefined)
    assert.equal(limit.tryAcquire('critical'), undefined, 'over the limit')
    // critical asked within its share: low's next loan is refused, critical gets the freed slot.
    low.pop()!.success()
    assert.equal(limit.tryAcquire('low'), undefined, 'a loan was made while critical asked for its share')
    const c1 = limit.tryAcquire('critical')
    assert.ok(c1)
    assert.equal(limit.inFlight, 10)
    // Once critical stops asking (one interval), loans resume.
    low.pop()!.success()
    advance(150)
    assert.ok(limit.tryAcquire('low'), 'loans did not resume')
    const s = limit.stats()
    assert.equal(s.byPartition['critical']!.inFlight, 1)
    assert.equal(s.byPartition['low']!.inFlight, 9)
    assert.equal(s.inFlight, 10)
  })

  test('a waiter below its share is served before loans, across partitions', async () => {
    const { limit } = simulated({ initialLimit: 4, partitions: { live: 0.5, batch: 0.5 } })
    const batch = Array.from({ length: 4 }, () => limit.tryAcquire('batch')!)
    const batchWaiter = limit.acquire({ partition: 'batch' })
    const liveWaiter = limit.acquire({ partition: 'live' })
    batch.pop()!.success()
    const live = await liveWaiter
    assert.equal(live.partition, 'live')
    assert.equal(limit.stats().byPartition['batch']!.queued, 1)
    batch.pop()!.success()
    // live now waits for nothing and is under its share, but not asking: batch may borrow again.
    assert.equal((await batchWaiter).partition, 'batch')
  })

  test('a share of 0 only borrows: it runs when nobody else wants the capacity', () => {
    const { limit } = simulated({ initialLimit: 4, partitions: { live: 1, batch: 0 } })
    const batch = Array.from({ length: 4 }, () => limit.tryAcquire('batch'))
    assert.ok(batch.every((t) => t !== undefined))
    assert.equal(limit.tryAcquire('live'), undefined)
    batch.pop()!.success()
    assert.equal(limit.tryAcquire('batch'), undefined, 'batch borrowed while live asked')
    assert.ok(limit.tryAcquire('live'))
    assert.equal(limit.stats().byPartition['batch']!.guaranteed, 0)
  })
})
