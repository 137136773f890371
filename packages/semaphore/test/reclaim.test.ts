/*
 * Invariants: permits held by a worker that exits — normally, by throwing, or by process.exit() while
 * parked in acquire() — return to the pool exactly once, with no call from the user when the thread
 * that created the worker holds the semaphore (watch() for a worker created before that), and
 * `reclaimed` counts exactly those permits; the dead thread's statistics stay counted, its parked
 * calls count in `timedOut`; and no counter of stats() ever decreases while slots are reclaimed and
 * reused, as seen by a thread looping on stats() meanwhile.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { Semaphore } from '../src/index.js'
import { ACQUIRED, RECLAIMED, slotIndex } from '../src/layout.js'

type Ending = 'return' | 'throw' | 'park-and-exit' | 'hold'

function holder(sem: Semaphore, take: number, ending: Ending): Worker {
  return new Worker(new URL('./fixtures/holder-worker.js', import.meta.url), {
    workerData: { handle: sem.handle, take, ending },
    stderr: true, // the throwing worker's error is expected; keep it out of the test output
  })
}

/**
 * Resolves once `worker` has exited and the exit listeners (the reclaim) have run. Call it before
 * awaiting any message: a worker's 'exit' may be emitted before the last message it posted.
 */
async function exited(worker: Worker): Promise<void> {
  await new Promise((resolve) => worker.once('exit', resolve))
  await nextTurn()
}

test('permits of a worker that exits or throws holding them return to the pool with no watch()', async () => {
  const sem = new Semaphore({ name: 'db', max: 5 })
  const quiet = holder(sem, 2, 'return')
  const crashing = holder(sem, 3, 'throw')
  // Listen before anything can fire: a crashing worker emits 'error' and 'exit' back to back.
  const errored = once(crashing, 'error')
  const done = Promise.all([exited(quiet), exited(crashing)])
  const [error] = await errored
  await done
  assert.match(String(error), /worker crashed holding 3 permits/)
  const s = sem.stats()
  assert.equal(s.inUse, 0)
  assert.equal(s.reclaimed, 5)
  assert.equal(s.acquired, 2, 'a dead thread’s statistics are kept (one per call)')
  assert.equal(s.peakInUse >= 3, true)
  assert.equal(sem.tryAcquire(5), true)
  sem.release(5)
})

test('reclaimed exactly once though several objects hear of the exit and watch() is called too', async () => {
  const sem = new Semaphore({ name: 'db', max: 4 })
  const again = Semaphore.attach(sem.handle)
  const worker = holder(sem, 3, 'return')
  sem.watch(worker)
  again.watch(worker)
  await exited(worker)
  const s = sem.stats()
  assert.deepEqual([s.inUse, s.reclaimed], [0, 3], 'a second reclaim would make inUse -3')
  assert.deepEqual(again.stats(), s)
})

test('a worker created by a worker is reclaimed by its creator; the creator by the main thread', async () => {
  const sem = new Semaphore({ name: 'db', max: 3 })
  const parent = new Worker(new URL('./fixtures/parent-worker.js', import.meta.url), {
    workerData: { handle: sem.handle },
  })
  const gone = exited(parent)
  const [seenByParent] = await once(parent, 'message')
  assert.deepEqual(seenByParent, { reclaimed: 2, inUse: 0 }, 'the child, reclaimed in the parent thread')
  await gone
  const s = sem.stats()
  assert.deepEqual([s.inUse, s.reclaimed, s.acquired], [0, 3, 2])
})

test('watch() reclaims a worker created before its thread held the semaphore; without it, it leaks', async () => {
  for (const watch of [true, false]) {
    const sem = new Semaphore({ name: 'db', max: 2 })
    const late = new Worker(new URL('./fixtures/late-attach-worker.js', import.meta.url), {
      workerData: { handle: sem.handle, watch },
    })
    const gone = exited(late)
    const [seen] = await once(late, 'message')
    await gone
    assert.deepEqual(seen, { reclaimed: watch ? 1 : 0 }, `watch: ${watch}`)
    assert.equal(sem.stats().inUse, watch ? 0 : 1)
  }
})

test('a parked acquire here is woken by the permits a dead worker leaves; its own parked call counts as timed out', async () => {
  const sem = new Semaphore({ name: 'db', max: 2 })
  const worker = holder(sem, 2, 'park-and-exit')
  const gone = exited(worker)
  const [msg] = await once(worker, 'message')
  assert.equal(msg, 'parked')
  assert.equal(sem.stats().waiting, 1)
  const mine = sem.acquire({ timeoutMs: 5_000 })
  await gone
  await mine
  const s = sem.stats()
  assert.deepEqual([s.inUse, s.waiting, s.reclaimed], [1, 0, 2])
  assert.deepEqual([s.acquired, s.rejected, s.timedOut], [2, 0, 1], 'every call counted once')
  sem.release()
})

test('the freed slot is reused, so a long-running service can cycle through many workers', async () => {
  const sem = new Semaphore({ name: 'db', max: 1, maxThreads: 2 })
  for (let i = 0; i < 5; i++) await exited(holder(sem, 1, 'return'))
  const s = sem.stats()
  assert.deepEqual([s.inUse, s.reclaimed, s.acquired], [0, 5, 5])
})

test('regression: Int32 RECLAIMED wraps negative (issue 15 #6); counters pass 2^31 and 2^32 and never go back', async () => {
  const sem = new Semaphore({ name: 'db', max: 4, maxThreads: 2 })
  const f64 = new Float64Array(sem.handle.buffer)
  // Slot 1, which the worker will occupy, as earlier occupants left it.
  const worker1 = slotIndex(1) >> 1
  f64[worker1 + RECLAIMED] = 2 ** 31 - 1
  f64[worker1 + ACQUIRED] = 2 ** 32 - 1
  await exited(holder(sem, 2, 'return'))
  let s = sem.stats()
  assert.equal(s.reclaimed, 2 ** 31 + 1)
  assert.equal(s.acquired, 2 ** 32)
  // At 2^53 a Float64 count stops growing; it never wraps or falls.
  f64[(slotIndex(0) >> 1) + ACQUIRED] = 2 ** 53
  const before = sem.stats().acquired
  assert.equal(sem.tryAcquire(), true)
  sem.release()
  s = sem.stats()
  assert.ok(s.acquired >= before && before > 2 ** 53, `${before} then ${s.acquired}`)
})

test('regression: Semaphore.stats() dips while a dead worker’s slot is reclaimed (issue 15 #7)', async () => {
  const WORKERS = 320
  const AT_ONCE = 4
  const sem = new Semaphore({ name: 'churn', max: 3, maxThreads: AT_ONCE + 2 })
  const control = new SharedArrayBuffer(4)
  const reader = new Worker(new URL('./fixtures/stats-reader-worker.js', import.meta.url), {
    workerData: { handle: sem.handle, control },
  })
  await once(reader, 'online')
  let granted = 0
  let refused = 0
  const churn = async (): Promise<void> => {
    const worker = new Worker(new URL('./fixtures/churn-worker.js', import.meta.url), {
      workerData: { handle: sem.handle, cycles: 2_000 },
    })
    sem.watch(worker) // redundant now (automatic), needed by the code this reproduces
    const gone = exited(worker)
    const [counted] = await once(worker, 'message')
    granted += counted.granted
    refused += counted.refused
    await gone
  }
  for (let started = 0; started < WORKERS; started += AT_ONCE)
    await Promise.all(Array.from({ length: AT_ONCE }, churn))
  Atomics.store(new Int32Array(control), 0, 1)
  const [report] = await once(reader, 'message')
  assert.equal(report.dips, 0, `${report.dips} snapshots fell, worst: ${report.worst}`)
  assert.ok(report.snapshots > WORKERS, `the reader took only ${report.snapshots} snapshots`)
  const s = sem.stats()
  assert.deepEqual(
    [s.inUse, s.reclaimed, s.acquired, s.rejected, s.timedOut],
    [0, WORKERS, granted, refused, 0],
    'every grant and refusal of the dead workers is counted exactly once',
  )
})
