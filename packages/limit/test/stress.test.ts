/*
 * Invariants this file keeps, across real worker threads on one AdaptiveLimit whose limit moves
 * underneath them (aimd: a quarter of the tokens are dropped, so it backs off and grows again every
 * window, in whichever thread runs the update):
 *  1. Never over-admits: at every grant the tokens held (a separate "holders now" counter) are at
 *     most the limit in force at that moment (checked whenever the limit changed at most once while
 *     the grant was made) and never above maxLimit.
 *  2. Exact accounting: per partition, the limit's counters equal what the workers counted, and
 *     acquired + rejected + queueFull + timedOut + aborted = attempts; at the end nothing is in
 *     flight or queued.
 *  3. A worker that dies holding tokens and with waiters (uncaught error, process.exit, terminate)
 *     gives them back without any call from the user, once even when also watch()ed; its counts
 *     are kept; a thread reading stats() meanwhile never sees a counter go backwards.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { AdaptiveLimit } from '../src/index.js'
import {
  CHECKED,
  CONTROL_BYTES,
  HOLDERS,
  OUTCOMES,
  RESULT_FIELDS,
  STOP,
  type StressConfig,
  UNCHECKED,
  VIOLATIONS,
} from './fixtures/stress-config.js'

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url)

async function stress(partitions: Record<string, number> | undefined, workers: number) {
  const limit = new AdaptiveLimit({
    name: 'stress',
    algorithm: 'aimd',
    initialLimit: 8,
    minLimit: 2,
    maxLimit: 16,
    partitions,
    queue: { maxWaiters: 10_000, maxWaitMs: 20, codel: { targetMs: 1, intervalMs: 5 } },
  })
  const names = limit.partitions
  const shared = new SharedArrayBuffer(CONTROL_BYTES + 8 * RESULT_FIELDS * names.length * workers)
  const control = new Int32Array(shared, 0, CONTROL_BYTES / 4)
  const threads = Array.from(
    { length: workers },
    (_, index) =>
      new Worker(fixture('stress-worker.js'), {
        workerData: {
          handle: limit.handle,
          shared,
          index,
          attempts: 20_000,
          concurrency: 4,
          partitions: names,
        } satisfies StressConfig,
      }),
  )
  // Read from this thread while the workers run: counters never go backwards, in-flight ≤ maxLimit.
  let last = limit.stats()
  const limits = new Set<number>()
  const sampler = setInterval(() => {
    const s = limit.stats()
    assert.ok(s.inFlight <= s.maxLimit, `inFlight ${s.inFlight} > maxLimit`)
    assert.ok(s.acquired >= last.acquired && s.succeeded >= last.succeeded, 'a counter went backwards')
    limits.add(s.limit)
    last = s
  }, 5)
  const stopAfter = setTimeout(() => Atomics.store(control, STOP, 1), 1_500)
  try {
    await Promise.all(
      threads.map(async (w) => {
        const [code] = await once(w, 'exit')
        assert.equal(code, 0)
      }),
    )
  } finally {
    clearInterval(sampler)
    clearTimeout(stopAfter)
  }
  const results = new Float64Array(shared, CONTROL_BYTES)
  const sum = (p: number, field: number) =>
    threads.reduce((acc, _, i) => acc + results[(i * names.length + p) * RESULT_FIELDS + field]!, 0)
  return { limit, control, names, sum, limits }
}

function checkAccounting(run: Awaited<ReturnType<typeof stress>>): void {
  const { limit, control, names, sum } = run
  const s = limit.stats()
  assert.equal(Atomics.load(control, VIOLATIONS), 0, 'a grant exceeded the limit in force')
  assert.ok(Atomics.load(control, CHECKED) > 10_000, `only ${Atomics.load(control, CHECKED)} grants checked`)
  assert.ok(Atomics.load(control, UNCHECKED) < Atomics.load(control, CHECKED) / 10)
  assert.equal(Atomics.load(control, HOLDERS), 0)
  assert.equal(s.inFlight, 0)
  assert.equal(s.queued, 0)
  let attempts = 0
  names.forEach((name, p) => {
    const part = s.byPartition[name]!
    for (const [k, outcome] of OUTCOMES.entries())
      assert.equal(part[outcome], sum(p, 1 + k), `${name}.${outcome}`)
    assert.equal(
      part.acquired + part.rejected + part.queueFull + part.timedOut + part.aborted,
      sum(p, 0),
      `${name}: attempts`,
    )
    assert.equal(part.acquired, part.succeeded + part.dropped + part.ignored)
    attempts += sum(p, 0)
  })
  assert.equal(s.acquired + s.rejected + s.queueFull + s.timedOut + s.aborted, attempts)
  assert.ok(s.rejected > 0 && s.timedOut > 0 && s.aborted > 0 && s.dropped > 0, JSON.stringify(s))
  assert.ok(s.limitChanges >= 2, `the limit moved only ${s.limitChanges} times`)
}

test('4 workers on one limit that moves underneath them: never over-admits, every outcome counted', async () => {
  checkAccounting(await stress(undefined, 4))
})

test('the same with 3 partitions: the total bound holds and every partition counts exactly', async () => {
  const run = await stress({ critical: 0.2, normal: 0.5, low: 0.3 }, 4)
  checkAccounting(run)
  for (const part of Object.values(run.limit.stats().byPartition)) assert.equal(part.inFlight, 0)
})

async function holder(limit: AdaptiveLimit, hold: number, wait: number, death: 'throw' | 'exit' | 'hang') {
  const worker = new Worker(fixture('holder-worker.js'), {
    workerData: { handle: limit.handle, hold, wait, death },
  })
  worker.on('error', () => {})
  const [message] = await once(worker, 'message')
  assert.equal(message, 'held')
  return worker
}

test('a worker that dies holding tokens and waiters gives them back, without a call from the user', async () => {
  const limit = new AdaptiveLimit({
    name: 'reclaim',
    algorithm: 'fixed',
    initialLimit: 6,
    queue: { codel: false, maxWaitMs: 600_000 },
  })
  const stop = new SharedArrayBuffer(4)
  const reader = new Worker(fixture('reader-worker.js'), { workerData: { handle: limit.handle, stop } })
  let reclaimed = 0
  try {
    for (const death of ['throw', 'exit', 'hang', 'throw', 'exit', 'hang'] as const) {
      const mine = [limit.tryAcquire()!, limit.tryAcquire()!]
      const worker = await holder(limit, 4, 3, death)
      if (death === 'throw') limit.watch(worker) // watched and automatic: still reclaimed once
      assert.equal(limit.inFlight, 6)
      assert.equal(limit.stats().queued, 3)
      // Not events.once: it would reject on the 'error' the thrown death emits first.
      const exited = new Promise((resolve) => worker.once('exit', resolve))
      if (death === 'hang') await worker.terminate()
      else worker.postMessage('die')
      await exited
      await new Promise((resolve) => setImmediate(resolve))
      reclaimed += 4
      const s = limit.stats()
      assert.equal(s.inFlight, 2, `after '${death}'`)
      assert.equal(s.queued, 0)
      assert.equal(s.reclaimed, reclaimed)
      for (const t of mine) t.success()
      // Every token is back, and no more than every token.
      const all = Array.from({ length: 6 }, () => limit.tryAcquire())
      assert.ok(
        all.every((t) => t !== undefined),
        `after '${death}': tokens lost`,
      )
      assert.equal(limit.tryAcquire(), undefined, `after '${death}': tokens returned twice`)
      for (const t of all) t!.success()
    }
  } finally {
    Atomics.store(new Int32Array(stop), 0, 1)
  }
  const [{ reads, backwards }] = await once(reader, 'message')
  assert.equal(backwards, 0, `${backwards} of ${reads} reads went backwards`)
  const s = limit.stats()
  // The dead workers' counts are kept: 6 × 4 of theirs, 6 × (2 + 6) of ours.
  assert.equal(s.acquired, 6 * 4 + 6 * 8)
  assert.equal(s.succeeded, 6 * 8)
})
