/*
 * @beamline/limit against what users would pick instead, in one run (medians of interleaved runs):
 *  - uncontended tryAcquire + success, against the floor the issue names (a bare Atomics.add + sub
 *    pair plus one performance.now()), the bare pair alone, beamline's Semaphore, a hand-written
 *    fixed counter, async-sema, cockatiel's bulkhead and p-limit;
 *  - acquire() + success (the promise path) and call(fn) against a plain awaited call;
 *  - a refusal at the limit;
 *  - two threads contending on one limit (the peers live inside one thread and cannot share).
 */
import {
  contendedAgainstFloor,
  do_not_optimize,
  measureCases,
  printTable,
  reportTarget,
} from '@beamline/bench-kit'
import { Semaphore } from '@beamline/semaphore'
import { Sema } from 'async-sema'
import { bulkhead } from 'cockatiel'
import pLimit from 'p-limit'
import { AdaptiveLimit } from '../src/index.js'

const counter = new Int32Array(new SharedArrayBuffer(64))
const limit = new AdaptiveLimit({ name: 'bench', initialLimit: 10 })
const sem = new Semaphore({ name: 'bench', max: 10 })
const sema = new Sema(10)
const cockatiel = bulkhead(10, 0)
const plimit = pLimit(10)
const work = () => 1
const asyncWork = async () => 1

/** What a careful user writes by hand: a counter in one thread, no timing, no sharing. */
class FixedSemaphore {
  #active = 0
  readonly #max: number
  constructor(max: number) {
    this.#max = max
  }
  tryAcquire(): boolean {
    if (this.#active >= this.#max) return false
    this.#active++
    return true
  }
  release(): void {
    this.#active--
  }
}
const fixed = new FixedSemaphore(10)

const FLOOR = 'bare Atomics.add+sub + performance.now()'
const floor = {
  name: FLOOR,
  fn: () => {
    Atomics.add(counter, 0, 1)
    Atomics.sub(counter, 0, 1)
    return performance.now()
  },
}
const hot = printTable(
  'Uncontended: admit one, end it',
  await measureCases([
    floor,
    {
      name: 'bare Atomics.add+sub pair',
      fn: () => {
        Atomics.add(counter, 0, 1)
        return Atomics.sub(counter, 0, 1)
      },
    },
    {
      name: 'bare pair + two performance.now()',
      fn: () => {
        Atomics.add(counter, 0, 1)
        Atomics.sub(counter, 0, 1)
        return performance.now() - performance.now()
      },
    },
    {
      name: 'beamline limit tryAcquire+success',
      fn: () => {
        const token = limit.tryAcquire()!
        token.success()
        return token
      },
    },
    {
      name: 'beamline Semaphore tryAcquire+release',
      fn: () => {
        const ok = sem.tryAcquire()
        sem.release()
        return ok
      },
    },
    {
      name: 'hand-written fixed semaphore',
      fn: () => {
        const ok = fixed.tryAcquire()
        fixed.release()
        return ok
      },
    },
    {
      name: 'async-sema acquire+release',
      fn: async () => {
        await sema.acquire()
        sema.release()
      },
    },
    { name: 'cockatiel bulkhead execute', fn: () => cockatiel.execute(work) },
    { name: 'p-limit(10) run', fn: () => plimit(work) },
  ]),
  FLOOR,
)
reportTarget(
  'tryAcquire + success ≤ 2× a bare Atomics add+sub pair plus one performance.now()',
  hot.get('beamline limit tryAcquire+success')! <= 2,
  `${hot.get('beamline limit tryAcquire+success')!.toFixed(2)}×`,
)

const calls = printTable(
  'With a promise: acquire()/call() against a plain awaited call',
  await measureCases([
    { name: 'plain await fn()', fn: async () => do_not_optimize(await asyncWork()) },
    {
      name: 'beamline limit await acquire()+success',
      fn: async () => {
        const token = await limit.acquire()
        token.success()
      },
    },
    { name: 'beamline limit call(fn)', fn: () => limit.call(asyncWork) },
    {
      name: 'async-sema acquire+await fn+release',
      fn: async () => {
        await sema.acquire()
        try {
          return await asyncWork()
        } finally {
          sema.release()
        }
      },
    },
    { name: 'cockatiel execute(async fn)', fn: () => cockatiel.execute(asyncWork) },
    { name: 'p-limit(10)(async fn)', fn: () => plimit(asyncWork) },
  ]),
  'plain await fn()',
)
reportTarget(
  'call() within 2× a plain awaited call',
  calls.get('beamline limit call(fn)')! <= 2,
  `${calls.get('beamline limit call(fn)')!.toFixed(2)}×`,
)

const full = new AdaptiveLimit({ name: 'full', algorithm: 'fixed', initialLimit: 1 })
full.tryAcquire()
printTable(
  'Refusal at the limit',
  await measureCases([
    floor,
    { name: 'beamline limit tryAcquire (full)', fn: () => full.tryAcquire() },
    { name: 'hand-written fixed semaphore (full)', fn: () => fixed.tryAcquire() && fixed.tryAcquire() },
  ]),
  FLOOR,
)

// Two threads, one limit: each does tryAcquire+success; against two threads doing the floor (an
// Atomics pair and the clock read a success needs).
await contendedAgainstFloor({
  title: 'Two threads on one counter (ns per op, wall time / total ops)',
  url: new URL('../src/index.js', import.meta.url).href,
  className: 'AdaptiveLimit',
  handle: new AdaptiveLimit({ name: 'contended', algorithm: 'fixed', initialLimit: 1_000 }).handle,
  op: 's.tryAcquire().success()',
  floorOp: 'Atomics.add(counter, 0, 1); Atomics.sub(counter, 0, 1); performance.now()',
  floorName: 'floor ×2 threads',
  subjectName: 'beamline limit tryAcquire+success ×2 threads',
})
