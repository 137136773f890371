import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import {
  InvalidHandleError,
  InvalidOptionError,
  Semaphore,
  SemaphoreFullError,
  SemaphoreOverReleaseError,
  SemaphoreQueueFullError,
  SemaphoreThreadSlotsError,
  SemaphoreTimeoutError,
} from '../src/index.js'

function assertCode(err: unknown, code: string, cls: new (...args: never[]) => Error): true {
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`)
  assert.equal((err as { code?: string }).code, code)
  return true
}

test('constructor validates every option, naming it and its range', () => {
  const cases: Array<[object, string, RegExp]> = [
    [{ name: 'db', max: 0 }, 'max', /integer from 1 to 1073741824, got 0/],
    [{ name: 'db', max: 2.5 }, 'max', /got 2.5/],
    [{ name: 'db', max: '10' }, 'max', /got "10"/],
    [{ name: 'db', max: 2 ** 31 }, 'max', /from 1 to 1073741824/],
    [{ name: 'db', max: 1, maxWaiters: -1 }, 'maxWaiters', /from 0 to/],
    [{ name: 'db', max: 1, maxThreads: 0 }, 'maxThreads', /from 1 to 4096/],
    [{ name: '', max: 1 }, 'name', /non-empty/],
    [{ max: 1 }, 'name', /non-empty/],
  ]
  for (const [options, option, message] of cases) {
    assert.throws(
      () => new Semaphore(options as never),
      (err: unknown) => {
        assertCode(err, 'ERR_BEAMLINE_INVALID_OPTION', InvalidOptionError)
        assert.equal((err as InvalidOptionError).option, option)
        assert.match((err as Error).message, message)
        return true
      },
    )
  }
  assert.throws(() => new Semaphore(undefined as never), InvalidOptionError)
})

test('tryAcquire never waits, saturates at max and counts refusals', () => {
  const sem = new Semaphore({ name: 'db', max: 3 })
  assert.equal(sem.tryAcquire(), true)
  assert.equal(sem.tryAcquire(2), true)
  assert.equal(sem.tryAcquire(), false)
  assert.equal(sem.tryAcquire(5), false)
  assert.deepEqual(sem.stats(), {
    name: 'db',
    max: 3,
    inUse: 3,
    waiting: 0,
    acquired: 2,
    rejected: 2,
    timedOut: 0,
    peakInUse: 3,
    reclaimed: 0,
  })
  sem.release(3)
  assert.equal(sem.stats().inUse, 0)
  assert.equal(sem.stats().peakInUse, 3)
  assert.throws(() => sem.tryAcquire(0), InvalidOptionError)
  assert.throws(() => sem.tryAcquire(1.5), InvalidOptionError)
})

test('releasing more than this thread holds throws and leaves the counter unchanged', () => {
  const sem = new Semaphore({ name: 'db', max: 4 })
  sem.tryAcquire(2)
  assert.throws(
    () => sem.release(3),
    (err) => {
      assertCode(err, 'ERR_BEAMLINE_SEMAPHORE_OVER_RELEASE', SemaphoreOverReleaseError)
      assert.match((err as Error).message, /release\(3\) but this thread holds 2/)
      return true
    },
  )
  assert.equal(sem.stats().inUse, 2)
  sem.release(2)
  assert.throws(() => sem.release(), SemaphoreOverReleaseError)
  assert.equal(sem.stats().inUse, 0)
})

test('acquire parks until a release and resolves in FIFO order within the thread', async () => {
  const sem = new Semaphore({ name: 'db', max: 1 })
  assert.equal(sem.tryAcquire(), true)
  const order: number[] = []
  const a = sem.acquire().then(() => order.push(1))
  const b = sem.acquire().then(() => order.push(2))
  await sleep(10)
  assert.equal(sem.stats().waiting, 2)
  assert.deepEqual(order, [])
  sem.release()
  await a
  assert.deepEqual(order, [1])
  sem.release()
  await b
  assert.deepEqual(order, [1, 2])
  sem.release()
  assert.deepEqual(
    { ...sem.stats(), name: undefined },
    {
      name: undefined,
      max: 1,
      inUse: 0,
      waiting: 0,
      acquired: 3,
      rejected: 0,
      timedOut: 0,
      peakInUse: 1,
      reclaimed: 0,
    },
  )
})

test('acquire with several permits waits until all are free', async () => {
  const sem = new Semaphore({ name: 'db', max: 3 })
  sem.tryAcquire(2)
  let got = false
  const p = sem.acquire({ permits: 2 }).then(() => (got = true))
  await sleep(5)
  assert.equal(got, false)
  sem.release()
  await p
  assert.equal(sem.stats().inUse, 3)
  sem.release(3)
  await assert.rejects(sem.acquire({ permits: 4 }), InvalidOptionError)
})

test('regression: a newcomer does not pass a larger request parked before it in the thread', async () => {
  const sem = new Semaphore({ name: 'db', max: 2 })
  sem.tryAcquire()
  const order: string[] = []
  const big = sem.acquire({ permits: 2 }).then(() => order.push('big'))
  // One permit is free, but `big` waits for two and came first: the newcomer waits behind it.
  const small = sem.acquire().then(() => order.push('small'))
  await sleep(5)
  assert.deepEqual(order, [])
  sem.release()
  await big
  sem.release(2)
  await small
  assert.deepEqual(order, ['big', 'small'])
  sem.release()
})

test('regression: timeoutMs beyond what setTimeout can wait is refused, not fired after 1 ms', async () => {
  const sem = new Semaphore({ name: 'db', max: 1 })
  sem.tryAcquire()
  assert.throws(() => sem.acquire({ timeoutMs: 2 ** 31 }), {
    code: 'ERR_BEAMLINE_INVALID_OPTION',
    message: /^timeoutMs: .*2147483647/,
  })
  const longest = sem.acquire({ timeoutMs: 2 ** 31 - 1 })
  await sleep(20)
  assert.equal(sem.stats().timedOut, 0)
  sem.release()
  await longest
  sem.release()
  await sem.acquire(null) // no options, as `acquire()`
  sem.release()
})

test('acquire times out with ERR_BEAMLINE_SEMAPHORE_TIMEOUT, counted, and leaves the queue', async () => {
  const sem = new Semaphore({ name: 'db', max: 1 })
  sem.tryAcquire()
  const started = performance.now()
  await assert.rejects(sem.acquire({ timeoutMs: 30 }), (err) =>
    assertCode(err, 'ERR_BEAMLINE_SEMAPHORE_TIMEOUT', SemaphoreTimeoutError),
  )
  assert.ok(performance.now() - started >= 25)
  await assert.rejects(sem.acquire({ timeoutMs: 0 }), SemaphoreTimeoutError)
  const s = sem.stats()
  assert.equal(s.timedOut, 2)
  assert.equal(s.waiting, 0)
  sem.release()
  await sem.acquire({ timeoutMs: 0 }) // free now: granted without waiting
  sem.release()
})

test('acquire rejects with the signal reason on abort, before or while parked', async () => {
  const sem = new Semaphore({ name: 'db', max: 1 })
  sem.tryAcquire()
  const reason = new Error('client went away')
  await assert.rejects(sem.acquire({ signal: AbortSignal.abort(reason) }), (err) => err === reason)
  const controller = new AbortController()
  const parked = sem.acquire({ signal: controller.signal })
  await sleep(5)
  assert.equal(sem.stats().waiting, 1)
  controller.abort(reason)
  await assert.rejects(parked, (err) => err === reason)
  assert.equal(sem.stats().waiting, 0)
  sem.release()
  // the aborted waiter must not have taken the permit
  assert.equal(sem.tryAcquire(), true)
  sem.release()
  const s = sem.stats()
  assert.deepEqual([s.acquired, s.rejected, s.timedOut], [2, 0, 2], 'both aborted calls count in timedOut')
})

test('a cancelled head waiter lets smaller waiters behind it through', async () => {
  const sem = new Semaphore({ name: 'db', max: 2 })
  sem.tryAcquire()
  const big = sem.acquire({ permits: 2, timeoutMs: 20 })
  const small = sem.acquire({ permits: 1 })
  await assert.rejects(big, SemaphoreTimeoutError)
  await small
  assert.equal(sem.stats().inUse, 2)
  sem.release(2)
})

test('maxWaiters bounds parked callers across the semaphore', async () => {
  const sem = new Semaphore({ name: 'db', max: 1, maxWaiters: 2 })
  sem.tryAcquire()
  const a = sem.acquire()
  const b = sem.acquire()
  await assert.rejects(sem.acquire(), (err) =>
    assertCode(err, 'ERR_BEAMLINE_SEMAPHORE_QUEUE_FULL', SemaphoreQueueFullError),
  )
  sem.release()
  await a
  sem.release()
  await b
  sem.release()
  const never = new Semaphore({ name: 'n', max: 1, maxWaiters: 0 })
  never.tryAcquire()
  await assert.rejects(never.acquire(), SemaphoreQueueFullError)
})

test('regression: acquire() refused for a full queue is counted nowhere (issue 15 #3)', async () => {
  const sem = new Semaphore({ name: 'db', max: 2, maxWaiters: 1 })
  assert.equal(sem.tryAcquire(2), true)
  const controller = new AbortController() // so that a failing run does not leave it parked for good
  const parked = sem.acquire({ signal: controller.signal })
  try {
    for (let i = 0; i < 1_000; i++) await assert.rejects(sem.acquire(), SemaphoreQueueFullError)
    // More permits than max can never be granted: refused too, and counted alike.
    await assert.rejects(sem.acquire({ permits: 3 }), InvalidOptionError)
    // Invalid arguments are not attempts.
    assert.throws(() => sem.acquire({ permits: 0 }), InvalidOptionError)
    assert.throws(() => sem.tryAcquire(-1), InvalidOptionError)
    let s = sem.stats()
    assert.deepEqual([s.acquired, s.rejected, s.timedOut, s.waiting], [1, 1_001, 0, 1])
    sem.release()
    await parked
    sem.release()
    s = sem.stats()
    // 1 tryAcquire + 1 parked acquire + 1 000 refused + 1 over max = 1 003 calls.
    assert.equal(s.acquired + s.rejected + s.timedOut, 1_003)
    assert.equal(s.waiting, 0)
  } finally {
    controller.abort()
    await parked.catch(() => {})
  }
})

test('call runs fn holding a permit, fails fast when full, releases when fn throws', async () => {
  const sem = new Semaphore({ name: 'db', max: 1 })
  assert.equal(await sem.call(() => 42), 42)
  let inside = -1
  const held = sem.call(async () => {
    inside = sem.stats().inUse
    await sleep(10)
    return 'done'
  })
  await assert.rejects(
    sem.call(() => 1),
    (err) => {
      assertCode(err, 'ERR_BEAMLINE_SEMAPHORE_FULL', SemaphoreFullError)
      assert.match((err as Error).message, /"db" is full \(max 1\)/)
      return true
    },
  )
  assert.equal(await held, 'done')
  assert.equal(inside, 1)
  await assert.rejects(
    sem.call(() => {
      throw new Error('boom')
    }),
    /boom/,
  )
  await assert.rejects(
    sem.call(() => Promise.reject(new Error('async boom'))),
    /async boom/,
  )
  const s = sem.stats()
  assert.equal(s.inUse, 0)
  assert.equal(s.rejected, 1)
  assert.equal(s.acquired, 4)
})

test('tryCall reports a full semaphore as a value and still propagates fn errors', async () => {
  const sem = new Semaphore({ name: 'db', max: 1 })
  assert.deepEqual(await sem.tryCall(() => 'x'), { ok: true, value: 'x' })
  sem.tryAcquire()
  assert.deepEqual(await sem.tryCall(() => 'x'), { ok: false, reason: 'full' })
  sem.release()
  await assert.rejects(
    sem.tryCall(() => Promise.reject(new Error('inner'))),
    /inner/,
  )
  assert.equal(sem.stats().inUse, 0)
  assert.equal(sem.stats().rejected, 1)
})

test('resize: growing wakes waiters; after shrinking no acquire succeeds while inUse ≥ max', async () => {
  const sem = new Semaphore({ name: 'db', max: 2 })
  sem.tryAcquire(2)
  const waiting = sem.acquire()
  sem.resize(3)
  await waiting
  assert.equal(sem.stats().inUse, 3)
  sem.resize(1)
  assert.deepEqual([sem.stats().max, sem.stats().inUse], [1, 3])
  sem.release()
  assert.equal(sem.tryAcquire(), false, 'inUse 2 ≥ max 1')
  sem.release()
  assert.equal(sem.tryAcquire(), false, 'inUse 1 ≥ max 1')
  sem.release()
  assert.equal(sem.tryAcquire(), true)
  sem.release()
  assert.throws(() => sem.resize(0), InvalidOptionError)
})

test('handle is structured-cloneable and attach shares the counter and the thread slot', () => {
  const sem = new Semaphore({ name: 'db', max: 2 })
  const same = Semaphore.attach(structuredClone(sem.handle))
  assert.equal(same.name, 'db')
  assert.equal(same.tryAcquire(), true)
  assert.equal(sem.stats().inUse, 1)
  // holdings follow the thread, so either object may release
  sem.release()
  assert.equal(same.stats().inUse, 0)
})

test('attach refuses what is not a semaphore handle of this layout version', () => {
  const sem = new Semaphore({ name: 'db', max: 2 })
  const bad: unknown[] = [
    undefined,
    'handle',
    {},
    { ...sem.handle, kind: 'beamline.ring' },
    { ...sem.handle, version: 999 },
    { ...sem.handle, buffer: new ArrayBuffer(1024) },
    { ...sem.handle, buffer: new SharedArrayBuffer(100) },
  ]
  for (const handle of bad) {
    assert.throws(
      () => Semaphore.attach(handle as never),
      (err) => assertCode(err, 'ERR_BEAMLINE_INVALID_HANDLE', InvalidHandleError),
    )
  }
})

test('a release in another thread wakes a parked acquire here, and the reverse', async () => {
  const sem = new Semaphore({ name: 'db', max: 1 })
  const worker = new Worker(new URL('./fixtures/ping-pong-worker.js', import.meta.url), {
    workerData: sem.handle,
  })
  const [ready] = await once(worker, 'message')
  assert.equal(ready, 'holding')
  assert.equal(sem.tryAcquire(), false)
  const parked = sem.acquire({ timeoutMs: 5_000 })
  worker.postMessage('release')
  await parked
  // now the worker parks, and our release must wake it
  worker.postMessage('acquire')
  await sleep(20)
  sem.release()
  const [done] = await once(worker, 'message')
  assert.equal(done, 'acquired')
  await once(worker, 'exit')
  assert.equal(sem.stats().acquired, 3)
})

test('too many threads: attach fails with ERR_BEAMLINE_SEMAPHORE_THREAD_SLOTS', async () => {
  const sem = new Semaphore({ name: 'db', max: 1, maxThreads: 1 })
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     import(workerData.url).then(({ Semaphore }) => {
       try { Semaphore.attach(workerData.handle); parentPort.postMessage('attached') }
       catch (err) { parentPort.postMessage(err.code) }
     })`,
    { eval: true, workerData: { handle: sem.handle, url: new URL('../src/index.js', import.meta.url).href } },
  )
  const [code] = await once(worker, 'message')
  assert.equal(code, new SemaphoreThreadSlotsError('db', 1).code)
})

test('a pending acquire keeps its thread alive until it settles', () => {
  const script = `
    import { Semaphore } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)}
    const sem = new Semaphore({ name: 'keep', max: 1 })
    sem.tryAcquire()
    sem.acquire().then(() => { console.log('acquired'); sem.release() })
    setTimeout(() => sem.release(), 100).unref() // unref'd: only the parked acquire keeps us alive
  `
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 10_000,
  })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'acquired')
})
