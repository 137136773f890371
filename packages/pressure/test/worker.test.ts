/*
 * Invariants: a worker that attaches the handle sees the owner's level, score, reasons and signal
 * values, and admit() decides from them; it never samples and cannot stop the owner. Under a writer
 * publishing as fast as it can, every snapshot a reader takes comes from exactly one publication
 * (all six driven signals carry the same publication number: the seqlock never lets a torn or mixed
 * snapshot through) and publications are seen in order.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { Worker } from 'node:worker_threads'
import { driven } from './fixtures/driven.js'

function reader(handle: unknown, done: SharedArrayBuffer) {
  return new Worker(new URL('./fixtures/reader-worker.js', import.meta.url), { workerData: { handle, done } })
}

describe('worker threads', () => {
  it('sees the level, reasons and values without a monitor of its own', async () => {
    const { monitor, step } = driven()
    const done = new SharedArrayBuffer(4)
    const worker = reader(monitor.handle, done)
    try {
      step({ queuedMessages: 2_000, gcFraction: 0.2 })
      worker.postMessage('probe')
      const [seen] = await once(worker, 'message')
      assert.equal(seen.level, 2)
      assert.equal(seen.score, 1)
      assert.deepEqual(seen.reasons, monitor.reasons)
      assert.equal(seen.signals.queuedMessages, 2_000)
      assert.equal(seen.signals.gcFraction, 0.2)
      assert.equal(seen.admitLow, false, 'shed: low priority refused in the worker')
      assert.equal(seen.admitCritical, true)
      assert.equal(seen.stopped, false, "the worker's stop() is a no-op")
      assert.equal(monitor.level, 2, 'and did not reset the owner')
      step({ queuedMessages: 0, gcFraction: 0 })
      step({}, 5_000)
      worker.postMessage('probe')
      const [after] = await once(worker, 'message')
      assert.equal(after.level, 0)
      assert.deepEqual(after.reasons, [])
      assert.equal(after.admitLow, true)
    } finally {
      await worker.terminate()
      monitor.stop()
    }
  })

  it('never lets a reader see a torn snapshot while the owner publishes (2 readers, 300k publications)', async () => {
    const { monitor, step, values } = driven({ coolDownMs: 0 })
    const done = new SharedArrayBuffer(4)
    const readers = [reader(monitor.handle, done), reader(monitor.handle, done)]
    try {
      // Wait until both readers run, so the publications overlap their reads.
      for (const w of readers) {
        w.postMessage('probe')
        await once(w, 'message')
        w.postMessage('stress')
      }
      const results = readers.map((w) => once(w, 'message'))
      // Cycle the level 0 → 1 → 2 so that level changes are exercised too.
      const cycle = [0, 150, 2_000]
      for (let k = 1; k <= 300_000; k++) {
        const v = cycle[k % 3]! + k / 1e6
        for (const name of Object.keys(values) as (keyof typeof values)[]) values[name] = v
        step({}, 1)
      }
      Atomics.store(new Int32Array(done), 0, 1)
      for (const [r] of await Promise.all(results)) {
        assert.ok(r.reads > 1_000, `reads ${r.reads}`)
        assert.equal(r.torn, 0, 'no snapshot mixed two publications')
        assert.equal(r.backwards, 0, 'publications seen in order')
        assert.ok(r.levels[0] > 0 && r.levels[2] > 0, `levels seen ${r.levels}`)
      }
    } finally {
      for (const w of readers) await w.terminate()
      monitor.stop()
    }
  })
})
