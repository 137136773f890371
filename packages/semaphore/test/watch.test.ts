/*
 * Invariant: permits held by a watched worker return to the pool when it exits — normally, by
 * throwing, or by process.exit() while parked in acquire() — and `reclaimed` counts exactly those
 * permits; its statistics survive, and its parked waiters no longer count in `waiting`.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { Semaphore } from '../src/index.js'

function holder(sem: Semaphore, take: number, then: 'return' | 'throw' | 'park-and-exit') {
  const worker = new Worker(new URL('./fixtures/holder-worker.js', import.meta.url), {
    workerData: { handle: sem.handle, take, then },
    stderr: true, // the throwing worker's error is expected; keep it out of the test output
  })
  sem.watch(worker)
  return worker
}

test('permits of a worker that exits or throws while holding them return to the pool', async () => {
  const sem = new Semaphore({ name: 'db', max: 5 })
  const quiet = holder(sem, 2, 'return')
  const crashing = holder(sem, 3, 'throw')
  // Listen before anything can fire: a crashing worker emits 'error' and 'exit' back to back.
  const errored = once(crashing, 'error')
  const exited = Promise.all([once(quiet, 'exit'), new Promise((resolve) => crashing.on('exit', resolve))])
  const [error] = await errored
  const [[code]] = await exited
  assert.equal(code, 0)
  assert.match(String(error), /worker crashed holding 3 permits/)
  await new Promise((r) => setImmediate(r))
  const s = sem.stats()
  assert.equal(s.inUse, 0)
  assert.equal(s.reclaimed, 5)
  assert.equal(s.acquired, 5, 'a dead thread’s statistics are kept')
  assert.equal(s.peakInUse >= 3, true)
  assert.equal(sem.tryAcquire(5), true)
  sem.release(5)
})

test('a parked acquire here is woken by the permits a dead worker leaves; its own waiters are forgotten', async () => {
  const sem = new Semaphore({ name: 'db', max: 2 })
  const worker = holder(sem, 2, 'park-and-exit')
  const [msg] = await once(worker, 'message')
  assert.equal(msg, 'parked')
  assert.equal(sem.stats().waiting, 1)
  const mine = sem.acquire({ timeoutMs: 5_000 })
  await once(worker, 'exit')
  await mine
  const s = sem.stats()
  assert.deepEqual([s.inUse, s.waiting, s.reclaimed], [1, 0, 2])
  sem.release()
})

test('the freed slot is reused, so a long-running service can cycle through many workers', async () => {
  const sem = new Semaphore({ name: 'db', max: 1, maxThreads: 2 })
  for (let i = 0; i < 5; i++) {
    const worker = holder(sem, 1, 'return')
    await once(worker, 'exit')
    await new Promise((r) => setImmediate(r))
  }
  const s = sem.stats()
  assert.deepEqual([s.inUse, s.reclaimed, s.acquired], [0, 5, 5])
})
