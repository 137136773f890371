/*
 * Invariants this file keeps, with 4 producer threads × 200 000 frames into one consumer:
 *  1. Exactly once: every frame arrives once, none is invented (per producer, the sequence numbers
 *     received are 0, 1, 2, … with no gap and no repeat, and the total is 800 000).
 *  2. Never torn: every frame is byte-identical to what was sent (self-checking frames, fixtures/frames.ts),
 *     thousands of them straddling the end of the ring.
 *  3. Per-producer order: each producer's frames arrive in the order it sent them (follows from 1).
 *  4. Counts are exact and never go backwards: framesSent = framesReceived = 800 000 at the end,
 *     framesRefused = the refusals the producers saw, and statistics sampled while they run are monotonic.
 * Run twice: frame by frame (trySend, and for await: a copy per frame), and in batches (trySendMany
 * of 1 to 16 frames: one reservation each; drain(n) after each awaited frame: one copy of the span of
 * the batch, wrapping, and a view per frame).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { Channel } from '../src/index.js'
import { recordUnits, UNIT_BYTES } from '../src/layout.js'
import { checkFrame } from './fixtures/frames.js'

const PRODUCERS = 4
const FRAMES = 200_000
const CAPACITY = 1 << 16

for (const batches of [false, true])
  test(`${PRODUCERS} producer threads × ${FRAMES} frames of random sizes${batches ? ', in batches (trySendMany, drain)' : ''}: exactly once, byte-identical, in order`, () =>
    stress(batches))

async function stress(batches: boolean): Promise<void> {
  const ch = new Channel({ name: 'stress', capacityBytes: CAPACITY })
  const workers = Array.from(
    { length: PRODUCERS },
    (_, producer) =>
      new Worker(new URL('./fixtures/producer.js', import.meta.url), {
        workerData: { handle: ch.handle, producer, count: FRAMES, seed: 1000 + producer, batch: batches },
      }),
  )
  const results = Promise.all(
    workers.map(async (w) => {
      const [[result], [code]] = await Promise.all([once(w, 'message'), once(w, 'exit')])
      assert.equal(code, 0)
      return result as { refused: number }
    }),
  )
  let lastSent = 0
  let lastReceived = 0
  let samples = 0
  const sampler = setInterval(() => {
    const s = ch.stats()
    assert.ok(s.framesSent >= lastSent && s.framesReceived >= lastReceived, 'a counter went backwards')
    assert.ok(s.usedBytes <= CAPACITY)
    lastSent = s.framesSent
    lastReceived = s.framesReceived
    samples++
  }, 5)
  const next = new Array<number>(PRODUCERS).fill(0)
  let received = 0
  let straddled = 0
  let position = 0
  const check = (frame: Uint8Array) => {
    const id = checkFrame(frame)
    assert.ok(id, `frame ${received} (${frame.length} bytes) is not what was sent`)
    assert.equal(id.sequence, next[id.producer], `producer ${id.producer}: expected ${next[id.producer]}`)
    next[id.producer]!++
    if (((position + 1) % (CAPACITY / UNIT_BYTES)) * UNIT_BYTES + frame.length > CAPACITY) straddled++
    position += recordUnits(frame.length)
    received++
  }
  try {
    for await (const frame of ch) {
      check(frame)
      if (batches) for (const f of ch.drain(1 + (received % 97))) check(f)
      if (received === PRODUCERS * FRAMES) break
    }
  } finally {
    clearInterval(sampler)
    // On a failed assertion the producers would go on (and keep the test alive).
    if (received !== PRODUCERS * FRAMES) await Promise.all(workers.map((w) => w.terminate()))
  }
  const refused = (await results).reduce((n, r) => n + r.refused, 0)
  assert.deepEqual(next, new Array(PRODUCERS).fill(FRAMES))
  assert.equal(ch.receive(), undefined, 'nothing beyond what was sent')
  assert.ok(straddled > 1000, `only ${straddled} frames straddled the wrap point`)
  const s = ch.stats()
  assert.equal(s.framesSent, PRODUCERS * FRAMES)
  assert.equal(s.framesReceived, PRODUCERS * FRAMES)
  assert.equal(s.bytesSent, s.bytesReceived)
  assert.equal(s.framesRefused, refused)
  assert.ok(refused > 0, 'the consumer never fell behind: the test did not fill the ring')
  assert.deepEqual([s.usedBytes, s.waitingSenders, s.abandoned], [0, 0, 0])
  assert.ok(samples > 3)
}
