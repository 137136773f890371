/*
 * @beamline/semaphore against what users would pick instead, in one run (medians of interleaved runs):
 *  - uncontended acquire+release, against async-sema, cockatiel's bulkhead, p-limit, and the physical
 *    floor for a shared counter: a bare Atomics.add + Atomics.sub pair;
 *  - call() overhead against a plain awaited call;
 *  - a rejection when full;
 *  - two threads contending on one semaphore (the peers live inside one thread and cannot share).
 */
import {
  contendedAgainstFloor,
  do_not_optimize,
  measureCases,
  printTable,
  reportTarget,
} from '@beamline/bench-kit'
import { Sema } from 'async-sema'
import { bulkhead } from 'cockatiel'
import pLimit from 'p-limit'
import { Semaphore } from '../src/index.js'

const counter = new Int32Array(new SharedArrayBuffer(64))
const sem = new Semaphore({ name: 'bench', max: 10 })
const sema = new Sema(10)
const cockatiel = bulkhead(10, 0)
const limit = pLimit(10)
const work = () => 1
const asyncWork = async () => 1

const pairs = printTable(
  'Uncontended acquire + release',
  await measureCases([
    {
      name: 'bare Atomics.add+sub pair',
      fn: () => {
        Atomics.add(counter, 0, 1)
        return Atomics.sub(counter, 0, 1)
      },
    },
    {
      name: 'beamline tryAcquire+release',
      fn: () => {
        const ok = sem.tryAcquire()
        sem.release()
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
    { name: 'p-limit(10) run', fn: () => limit(work) },
  ]),
  'bare Atomics.add+sub pair',
)
reportTarget(
  'tryAcquire+release within 2× a bare Atomics pair',
  pairs.get('beamline tryAcquire+release')! <= 2,
  `${pairs.get('beamline tryAcquire+release')!.toFixed(2)}×`,
)
const vsSema = pairs.get('async-sema acquire+release')! / pairs.get('beamline tryAcquire+release')!
reportTarget('≥1.5× faster than async-sema acquire+release', vsSema >= 1.5, `${vsSema.toFixed(1)}× faster`)

const calls = printTable(
  'call() overhead',
  await measureCases([
    { name: 'plain await fn()', fn: async () => do_not_optimize(await asyncWork()) },
    { name: 'beamline call(fn)', fn: () => sem.call(asyncWork) },
    { name: 'beamline tryCall(fn)', fn: () => sem.tryCall(asyncWork) },
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
    { name: 'p-limit(10)(async fn)', fn: () => limit(asyncWork) },
  ]),
  'plain await fn()',
)
reportTarget(
  'call() adds ≤ 2× a plain awaited call',
  calls.get('beamline call(fn)')! <= 2,
  `${calls.get('beamline call(fn)')!.toFixed(2)}×`,
)

const full = new Semaphore({ name: 'full', max: 1 })
full.tryAcquire()
const fullSema = new Sema(1)
await fullSema.acquire()
const fullCockatiel = bulkhead(1, 0)
void fullCockatiel.execute(() => new Promise(() => {}))
const rejections = printTable(
  'Rejection when full',
  await measureCases([
    {
      name: 'bare Atomics.add+sub pair',
      fn: () => {
        Atomics.add(counter, 0, 1)
        return Atomics.sub(counter, 0, 1)
      },
    },
    { name: 'beamline tryAcquire (full)', fn: () => full.tryAcquire() },
    { name: 'async-sema tryAcquire (full)', fn: () => fullSema.tryAcquire() },
    {
      name: 'cockatiel execute (full, throws)',
      fn: async () => {
        try {
          await fullCockatiel.execute(work)
        } catch (err) {
          return err
        }
      },
    },
  ]),
  'bare Atomics.add+sub pair',
)
reportTarget(
  'a rejection through tryAcquire costs no more than a bare atomic pair',
  rejections.get('beamline tryAcquire (full)')! <= 1,
  `${rejections.get('beamline tryAcquire (full)')!.toFixed(2)}×`,
)

// Two threads, one semaphore: each does tryAcquire+release pairs; compare with two threads doing
// bare Atomics pairs on one shared counter (the floor, including cache-line ping-pong).
await contendedAgainstFloor({
  title: 'Two threads contending on one counter (ns per pair, wall time / total pairs)',
  url: new URL('../src/index.js', import.meta.url).href,
  className: 'Semaphore',
  handle: new Semaphore({ name: 'contended', max: 1_000 }).handle,
  op: 's.tryAcquire(); s.release()',
  floorOp: 'Atomics.add(counter, 0, 1); Atomics.sub(counter, 0, 1)',
  floorName: 'bare Atomics pair ×2 threads',
  subjectName: 'beamline tryAcquire+release ×2 threads',
})
