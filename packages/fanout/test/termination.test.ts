/*
 * The one assumption the channel makes about V8 (src/layout.ts, "the one gap"): a thread is never
 * terminated between the CAS that reserves a record and the plain stores that stamp it, nor left
 * with memory zeroed and not released (the consumer's READ covers that). A worker producing and
 * consuming in a tight loop is terminated at random points, many times; after each, the ring must
 * hold no reserved-but-unstamped record between READ and TAIL, the exit must be reclaimed, and every
 * frame left must read back whole while the channel goes on working. If V8 ever starts acting on
 * terminations there, this test is where it shows.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { Channel } from '../src/index.js'
import { dataOffset, POS_MASK, READ, recordUnits, STATE, TAIL, UNITS } from '../src/layout.js'
import { checkFrame, random } from './fixtures/frames.js'

/** With an Atomics call put into the gap on purpose, about 1 in 60 terminations lands in it. */
const ROUNDS = 100

/** Walks the records from READ to TAIL; returns how many are stamped and not committed. */
function walk(ch: Channel): { records: number; busy: number } {
  const i32 = new Int32Array(ch.handle.buffer)
  const base = dataOffset(64) >> 2
  const units = ch.capacityBytes / 8
  const tail = Atomics.load(i32, TAIL) & POS_MASK
  let position = Atomics.load(i32, READ)
  let records = 0
  let busy = 0
  while (position !== tail) {
    const at = base + ((position & (units - 1)) << 1)
    const state = i32[at + STATE]!
    assert.notEqual(state, 0, `a record at ${position} was reserved and never stamped`)
    if (state < 0) busy++
    position = (position + (state > 0 ? recordUnits(state - 1) : i32[at + UNITS]!)) & POS_MASK
    records++
  }
  return { records, busy }
}

for (const batch of [false, true])
  test(`terminated at random points while sending${batch ? ' batches (trySendMany)' : ''} and consuming: never an unstamped record, never a torn frame`, async () => {
    const rnd = random(11)
    let stamped = 0
    for (let round = 0; round < ROUNDS; round++) {
      const ch = new Channel({ name: `churn-${round}`, capacityBytes: 8192 })
      const worker = new Worker(new URL('./fixtures/churn.js', import.meta.url), {
        workerData: { handle: ch.handle, seed: round + 1, batch },
      })
      await once(worker, 'message')
      await sleep(rnd() * 8)
      await worker.terminate()
      const { busy } = walk(ch)
      assert.ok(busy <= 1, 'one thread has at most one open record')
      stamped += busy
      // Its exit was reclaimed: this thread can consume, the dead record is skipped, the rest is whole.
      for (const frame of ch.drain()) assert.ok(checkFrame(frame), `round ${round}: a torn frame`)
      assert.equal(ch.stats().abandoned, busy)
      assert.equal(ch.trySend(new Uint8Array(100)), true)
      assert.equal(ch.receive()?.length, 100)
      assert.equal(ch.stats().usedBytes, 0)
    }
    // Not required to pass, but it shows the test reaches the states it is about.
    console.log(`# ${stamped} of ${ROUNDS} terminations left a record stamped and not committed`)
  })
