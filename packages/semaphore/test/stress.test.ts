/*
 * Invariants this file keeps, across real worker threads hammering one semaphore:
 *  1. Mutual exclusion bound: the number of callers inside a permit-holding section never exceeds max
 *     (each holder increments a separate shared "holders now" counter on entry, decrements on exit,
 *     and records the highest value it saw).
 *  2. Nothing is lost: at the end inUse === 0, waiting === 0, and the semaphore's counters equal what
 *     the workers observed, category by category: acquired + rejected + timedOut === attempts
 *     (acquired + rejected === attempts in the run without deadlines), including acquire() calls
 *     refused for a full queue, aborted ones and ones taking 2 permits (issue 15 #3).
 *  3. Statistics read concurrently from another thread never go backwards and never show inUse > max.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { Semaphore } from '../src/index.js'
import { RESULT_FIELDS, type StressConfig } from './fixtures/stress-config.js'

async function runStress(
  config: Omit<StressConfig, 'handle' | 'shared'>,
  workers: number,
  maxWaiters = 10_000,
) {
  const sem = new Semaphore({ name: 'stress', max: config.max, maxWaiters })
  const shared = new SharedArrayBuffer(8 + 8 * RESULT_FIELDS * workers)
  const threads = Array.from(
    { length: workers },
    (_, index) =>
      new Worker(new URL('./fixtures/stress-worker.js', import.meta.url), {
        workerData: { ...config, handle: sem.handle, shared, index } satisfies StressConfig & {
          index: number
        },
      }),
  )
  // Invariant 3, sampled from this thread while the workers run.
  let lastAcquired = 0
  let samples = 0
  const sampler = setInterval(() => {
    const s = sem.stats()
    assert.ok(s.inUse <= s.max, `inUse ${s.inUse} > max ${s.max}`)
    assert.ok(s.acquired >= lastAcquired, 'acquired went backwards')
    lastAcquired = s.acquired
    samples++
  }, 2)
  try {
    await Promise.all(
      threads.map(async (w) => {
        const [code] = await once(w, 'exit')
        assert.equal(code, 0)
      }),
    )
  } finally {
    clearInterval(sampler)
  }
  const holders = new Int32Array(shared, 0, 2)
  const results = new Float64Array(shared, 8)
  const sum = (field: number) => threads.reduce((acc, _, i) => acc + results[i * RESULT_FIELDS + field]!, 0)
  return { sem, stats: sem.stats(), holdersNow: holders[0]!, maxHolders: holders[1]!, sum, samples }
}

/** Invariants 1 and 2 for a run with deadlines: bounded, drained, every call counted where its caller saw it. */
function assertExact(run: Awaited<ReturnType<typeof runStress>>, max: number, attempts: number): void {
  const { stats, maxHolders, sum } = run
  assert.ok(maxHolders <= max, `permits held reached ${maxHolders} with max ${max}`)
  assert.equal(stats.inUse, 0)
  assert.equal(stats.waiting, 0)
  assert.equal(stats.acquired, sum(0))
  assert.equal(stats.rejected, sum(1))
  assert.equal(stats.timedOut, sum(2))
  assert.equal(stats.acquired + stats.rejected + stats.timedOut, attempts)
}

test('4 workers × 100k tryAcquire/acquire/call cycles never over-admit and lose nothing', async () => {
  const attemptsPerWorker = 100_000
  const { stats, holdersNow, maxHolders, sum, samples } = await runStress(
    { max: 3, attempts: attemptsPerWorker, timeouts: false, refusals: false, concurrency: 3 },
    4,
  )
  assert.ok(maxHolders <= 3, `holders reached ${maxHolders} with max 3`)
  assert.ok(maxHolders >= 2, 'the test must actually contend')
  assert.equal(holdersNow, 0)
  assert.equal(stats.inUse, 0)
  assert.equal(stats.waiting, 0)
  assert.equal(stats.acquired, sum(0))
  assert.equal(stats.rejected, sum(1))
  assert.equal(stats.timedOut, 0)
  assert.equal(stats.acquired + stats.rejected, 4 * attemptsPerWorker)
  assert.ok(stats.rejected > 0 && stats.acquired > 0)
  assert.ok(stats.peakInUse <= 3)
  assert.ok(samples > 10)
})

test('with deadlines too: acquired + rejected + timedOut === attempts', async () => {
  const attemptsPerWorker = 30_000
  const run = await runStress(
    { max: 2, attempts: attemptsPerWorker, timeouts: true, refusals: false, concurrency: 4 },
    4,
  )
  assertExact(run, 2, 4 * attemptsPerWorker)
})

test('every refusal counted, across threads: a full queue, aborts and 2-permit calls too (issue 15 #3)', async () => {
  const attemptsPerWorker = 30_000
  const run = await runStress(
    { max: 3, attempts: attemptsPerWorker, timeouts: true, refusals: true, concurrency: 6 },
    4,
    3,
  )
  assertExact(run, 3, 4 * attemptsPerWorker)
  assert.ok(run.sum(4) > 0 && run.stats.timedOut > 0, 'the run must find the queue full and time out')
})
