import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { SharedSnapshot, SharedValue } from '../src/index.js'

function assertCode(fn: () => unknown, code: string) {
  assert.throws(fn, (err: { code?: string }) => err.code === code)
}

test('SharedSnapshot publishes versions; too large keeps the old one; attached is read-only', () => {
  const snap = new SharedSnapshot({ maxBytes: 16 })
  assert.equal(
    snap.read((view, version) => `${view.length}@${version}`),
    '0@0',
  )
  assert.equal(snap.publish(Uint8Array.of(1, 2, 3)), 1)
  assert.deepEqual(
    snap.read((view) => [...view]),
    [1, 2, 3],
  )
  assertCode(() => snap.publish(new Uint8Array(17)), 'ERR_BEAMLINE_SNAPSHOT_TOO_LARGE')
  assert.deepEqual(
    snap.read((view, version) => [...view, version]),
    [1, 2, 3, 1],
  )
  assert.equal(
    snap.publishWith(4, (view) => view.set([9, 9, 9, 9])),
    2,
  )
  const attached = SharedSnapshot.attach(structuredClone(snap.handle))
  assert.deepEqual(
    attached.read((view) => [...view]),
    [9, 9, 9, 9],
  )
  assert.equal(attached.version, 2)
  assertCode(() => attached.publish(Uint8Array.of(1)), 'ERR_BEAMLINE_READ_ONLY')
  assertCode(() => new SharedSnapshot({ maxBytes: 0 }), 'ERR_BEAMLINE_INVALID_OPTION')
  assertCode(
    () => SharedSnapshot.attach({ kind: 'beamline.value', version: 1 } as never),
    'ERR_BEAMLINE_INVALID_HANDLE',
  )
  // An exception from a consistent read propagates.
  assert.throws(
    () =>
      snap.read(() => {
        throw new Error('boom')
      }),
    /boom/,
  )
})

test('SharedValue: same object while unchanged, frozen, new object after set, refused values keep the old one', () => {
  const flags = new SharedValue({ initial: { rollout: 0.1, tags: ['a'] }, maxBytes: 256 })
  const first = flags.get()
  assert.equal(flags.get(), first)
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.tags))
  assert.equal(flags.version, 0)
  assert.equal(flags.set({ rollout: 0.5, tags: [] }), 1)
  assert.deepEqual(flags.get(), { rollout: 0.5, tags: [] })
  assert.notEqual(flags.get(), first)
  assertCode(
    () => flags.set({ rollout: 1, tags: [], fn: () => 1 } as never),
    'ERR_BEAMLINE_VALUE_NOT_CLONEABLE',
  )
  assertCode(() => flags.set({ rollout: 1, tags: ['x'.repeat(300)] }), 'ERR_BEAMLINE_SNAPSHOT_TOO_LARGE')
  assert.deepEqual(flags.get(), { rollout: 0.5, tags: [] })
  assert.equal(flags.version, 1)
  const rich = new SharedValue({ initial: new Map([['at', new Date(0)]]) })
  assert.equal(rich.get().get('at')?.getTime(), 0)
  assertCode(() => new SharedValue({ initial: Symbol('x') }), 'ERR_BEAMLINE_VALUE_NOT_CLONEABLE')
})

test('SharedValue set from a worker is seen by the main thread, and a terminated writer does not wedge the lock', async () => {
  const value = new SharedValue<{ from: string }>({ initial: { from: 'main' }, lockTimeoutMs: 200 })
  const source = `
    const { workerData, parentPort } = require('node:worker_threads')
    import(workerData.url).then(({ SharedValue }) => {
      const v = SharedValue.attach(workerData.handle)
      v.set({ from: 'worker' })
      parentPort.postMessage(v.get().from)
    })`
  const url = new URL('../src/index.js', import.meta.url).href
  const worker = new Worker(source, { eval: true, workerData: { handle: value.handle, url } })
  const reply = await new Promise((resolve) => worker.once('message', resolve))
  assert.equal(reply, 'worker')
  assert.deepEqual(value.get(), { from: 'worker' })
  await new Promise((resolve) => worker.once('exit', resolve))

  // Simulate a writer that died holding the lock: its token is in LOCK. watch() frees it on exit.
  const holder = new Worker('setTimeout(() => {}, 60_000)', { eval: true })
  await new Promise((resolve) => holder.once('online', resolve))
  Atomics.store(new Int32Array(value.handle.buffer, 0, 32), 16, holder.threadId + 1)
  assertCode(() => value.set({ from: 'blocked' }), 'ERR_BEAMLINE_VALUE_LOCK_TIMEOUT')
  value.watch(holder)
  await holder.terminate()
  await new Promise((resolve) => setImmediate(resolve))
  value.set({ from: 'after' })
  assert.deepEqual(value.get(), { from: 'after' })
})
