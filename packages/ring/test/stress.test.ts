/*
 * Torn-read stress across real worker threads.
 *
 * Invariants checked on every read, for at least 2 s while a writer publishes as fast as it can:
 *  - SharedSnapshot: every view is uniform (all bytes = version & 255) and its length is lengthFor(version);
 *    versions never go back in a reader.
 *  - SharedValue (two writer threads, two readers): every value is uniform (all items = its writer:seq tag),
 *    has valueLengthFor(seq) items, is frozen, and each writer's seq never goes back in a reader; the final
 *    version equals the number of sets (no set lost or doubled by the writers' lock).
 *  - HashRing: every get/getN answer equals the answer of one of the rings whose version was current
 *    between the version read before and after the lookup — never a node from neither.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { HashRing, SharedSnapshot, SharedValue } from '../src/index.js'
import { lengthFor, RING_CONFIGS } from './fixtures/stress-shared.js'

const DURATION_MS = 2500

interface Report {
  reads: number
  bad: number
  sample: string
}

function run(role: string, handle: unknown, deadline: number, writer?: number): Promise<Report> {
  const worker = new Worker(new URL('./fixtures/stress-worker.js', import.meta.url), {
    workerData: { role, handle, deadline, writer },
  })
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}

function assertClean(reports: Report[], minReads: number): void {
  for (const r of reports) {
    assert.equal(r.bad, 0, `violations: ${r.bad}, first: ${r.sample}`)
    assert.ok(r.reads >= minReads, `only ${r.reads} reads`)
  }
}

test('SharedSnapshot: readers never see a torn or mislabelled snapshot', async () => {
  const snap = new SharedSnapshot({ maxBytes: 8192 })
  const deadline = Date.now() + DURATION_MS
  const readers = [
    run('snapshot-reader', snap.handle, deadline),
    run('snapshot-reader', snap.handle, deadline),
  ]
  let published = 0
  const scratch = new Uint8Array(8192)
  while (Date.now() < deadline) {
    for (let i = 0; i < 50; i++) {
      const v = published + 1
      const view = scratch.subarray(0, lengthFor(v))
      view.fill(v & 0xff)
      assert.equal(snap.publish(view), v)
      published = v
    }
    // Let the event loop breathe so worker messages are not starved.
    if (published % 5000 === 0) await new Promise((r) => setImmediate(r))
  }
  assertClean(await Promise.all(readers), 1000)
  assert.ok(published > 1000, `writer published only ${published}`)
  assert.equal(snap.version, published)
})

test('SharedValue: two writer threads and two readers, no torn value, no lost set', async () => {
  const value = new SharedValue({
    initial: { writer: -1, seq: -1, data: [] as string[] },
    maxBytes: 16 << 10,
  })
  const deadline = Date.now() + DURATION_MS
  const reports = await Promise.all([
    run('value-writer', value.handle, deadline, 1),
    run('value-writer', value.handle, deadline, 2),
    run('value-reader', value.handle, deadline),
    run('value-reader', value.handle, deadline),
  ])
  assertClean(reports, 100)
  const sets = reports[0]!.reads + reports[1]!.reads
  assert.equal(value.version, sets)
})

test('HashRing: every answer comes from a ring that was current during the lookup', async () => {
  const ring = new HashRing({ nodes: RING_CONFIGS[0]! })
  const deadline = Date.now() + DURATION_MS
  const readers = [run('ring-reader', ring.handle, deadline), run('ring-reader', ring.handle, deadline)]
  let version = 0
  while (Date.now() < deadline) {
    for (let i = 0; i < 20; i++) {
      version++
      ring.set(RING_CONFIGS[version % RING_CONFIGS.length]!)
    }
    await new Promise((r) => setImmediate(r))
  }
  assertClean(await Promise.all(readers), 1000)
  assert.equal(ring.version, version)
})
