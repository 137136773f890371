/*
 * The seqlock helper. Invariant checked across real threads: a reader never accepts a value that
 * mixes two writes (every one of its 128 words, Float64 and Int32 over 12 cache lines, is the same
 * write number), and the values one reader accepts never go back. The readers must also have been
 * refused at least once, so that the run provably raced the writer.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import {
  loadAfterReads,
  seqReadBegin,
  seqReadValid,
  seqWriteBegin,
  seqWriteEnd,
  storeBeforeWrites,
} from '../src/index.js'
import { BUFFER_BYTES, STOP, type StressShared } from './fixtures/seqlock-shared.js'

test('a read is valid only if no write was in progress when it began and none began since', () => {
  const words = new Int32Array(new SharedArrayBuffer(8))
  const s0 = seqReadBegin(words, 0)
  assert.equal(seqReadValid(words, 0, s0), true)
  seqWriteBegin(words, 0)
  assert.equal(seqReadValid(words, 0, s0), false, 'a write began during the read')
  const during = seqReadBegin(words, 0)
  assert.equal(during & 1, 1)
  assert.equal(seqReadValid(words, 0, during), false, 'began while a write was in progress')
  seqWriteEnd(words, 0)
  assert.equal(seqReadValid(words, 0, during), false)
  const s1 = seqReadBegin(words, 0)
  assert.equal(seqReadValid(words, 0, s1), true)
  assert.equal(words[1], 0, 'only the sequence word is touched')
})

test('the sequence wraps: Int32 past 2^31 − 1 and Uint32 past 2^32 − 1 keep validating', () => {
  for (const words of [new Int32Array(new SharedArrayBuffer(4)), new Uint32Array(new SharedArrayBuffer(4))]) {
    words[0] = words instanceof Int32Array ? 2 ** 31 - 2 : 2 ** 32 - 2
    for (let n = 0; n < 4; n++) {
      const s = seqReadBegin(words, 0)
      assert.equal(seqReadValid(words, 0, s), true, `${words.constructor.name} at ${s}`)
      seqWriteBegin(words, 0)
      assert.equal(seqReadValid(words, 0, s), false)
      assert.equal(seqReadValid(words, 0, seqReadBegin(words, 0)), false, 'odd while writing')
      seqWriteEnd(words, 0)
    }
  }
})

test('the primitives: storeBeforeWrites stores, loadAfterReads loads', () => {
  const words = new Uint32Array(new SharedArrayBuffer(8))
  storeBeforeWrites(words, 1, 2 ** 32 - 1)
  assert.equal(loadAfterReads(words, 1), 2 ** 32 - 1)
  assert.equal(loadAfterReads(words, 0), 0)
})

function run(role: 'writer' | 'reader', shared: StressShared): Promise<Record<string, number | string>> {
  const worker = new Worker(new URL('./fixtures/seqlock-worker.js', import.meta.url), {
    workerData: { ...shared, role },
  })
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}

test('stress: 2 readers never accept a torn 128-word value from a writer thread', async () => {
  const shared: StressShared = {
    buffer: new SharedArrayBuffer(BUFFER_BYTES),
    reads: 200_000,
    retries: 1_000,
    maxAttempts: 200_000_000,
  }
  const writer = run('writer', shared)
  const readers = await Promise.all([run('reader', shared), run('reader', shared)])
  Atomics.store(new Int32Array(shared.buffer), STOP, 1)
  const { writes } = await writer
  for (const r of readers) {
    assert.equal(r.torn, 0, String(r.sample))
    assert.equal(r.backwards, 0, 'a reader accepted an older value after a newer one')
    assert.ok(Number(r.accepted) >= shared.reads, `only ${r.accepted} accepted reads`)
  }
  const refused = readers.reduce((n, r) => n + Number(r.refused), 0)
  assert.ok(refused > 0, 'the readers never raced the writer: the run proves nothing')
  assert.ok(Number(writes) > 0)
})
