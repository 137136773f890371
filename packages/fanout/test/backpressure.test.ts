/*
 * Invariant: a consumer that falls behind makes trySend refuse at once and send wait — and nothing is
 * lost or duplicated: every frame a producer was told was sent arrives, in order, and the counters
 * are exact (framesRefused = refusals seen, framesSent = framesReceived = frames accepted).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { Channel } from '../src/index.js'
import { makeFrame } from './fixtures/frames.js'

async function gatedConsumer(ch: Channel, pauseMs: number) {
  const worker = new Worker(new URL('./fixtures/gated-consumer.js', import.meta.url), {
    workerData: { handle: ch.handle, pauseMs },
  })
  const [ready] = await once(worker, 'message')
  assert.equal(ready, 'ready')
  return {
    go: () => worker.postMessage('go'),
    result: once(worker, 'message').then(
      ([r]) => r as { received: Record<number, number>; torn: number; outOfOrder: number },
    ),
  }
}

test('a stalled consumer: trySend refuses, send waits, then everything arrives in order and counts are exact', async () => {
  const ch = new Channel({ name: 'stalled', capacityBytes: 4096 })
  const consumer = await gatedConsumer(ch, 0)
  let accepted = 0
  while (ch.trySend(makeFrame(0, accepted, 56))) accepted++ // 64-byte records
  assert.equal(accepted, 64)
  let refusals = 1
  for (let i = 0; i < 10; i++) if (!ch.trySend(makeFrame(0, accepted, 56))) refusals++
  const waiting = Array.from({ length: 100 }, (_, i) => ch.send(makeFrame(0, accepted + i, 56)))
  let s = ch.stats()
  assert.deepEqual([s.waitingSenders, s.framesRefused, s.bytesRefused], [100, 11, 11 * 56])
  assert.equal(refusals, 11)
  consumer.go()
  await Promise.all(waiting)
  ch.close()
  const result = await consumer.result
  assert.deepEqual(result, { received: { 0: 164 }, torn: 0, outOfOrder: 0 })
  s = ch.stats()
  assert.deepEqual(
    [s.framesSent, s.framesReceived, s.framesRefused, s.waitingSenders, s.timedOut, s.usedBytes],
    [164, 164, 11, 0, 0, 0],
  )
  assert.equal(s.bytesSent, 164 * 56)
})

test('a slow consumer against a fast producer: refusals counted one by one, nothing lost', async () => {
  const ch = new Channel({ name: 'slow', capacityBytes: 1024 })
  const consumer = await gatedConsumer(ch, 1)
  consumer.go()
  let refusals = 0
  const total = 300
  for (let sequence = 0; sequence < total; sequence++) {
    const frame = makeFrame(0, sequence, 8 + (sequence % 100))
    if (!ch.trySend(frame)) {
      refusals++
      await ch.send(frame)
    }
  }
  ch.close()
  const result = await consumer.result
  assert.deepEqual(result, { received: { 0: total }, torn: 0, outOfOrder: 0 })
  const s = ch.stats()
  assert.ok(refusals > 100, `the consumer kept up (${refusals} refusals): not a back-pressure test`)
  assert.deepEqual([s.framesSent, s.framesReceived, s.framesRefused], [total, total, refusals])
})

test('close while another thread reads and producers wait: what was accepted arrives, the rest is refused', async () => {
  const ch = new Channel({ name: 'closing', capacityBytes: 8192 })
  const consumer = await gatedConsumer(ch, 0)
  const producer = new Worker(new URL('./fixtures/producer.js', import.meta.url), {
    workerData: { handle: ch.handle, producer: 1, count: -1, seed: 5 },
  })
  let accepted = 0
  while (ch.trySend(makeFrame(0, accepted, 100))) accepted++
  const parked = Array.from({ length: 50 }, (_, i) => ch.send(makeFrame(0, accepted + i, 100)))
  consumer.go()
  // Close while the consumer is draining and both producers are writing or parked: once the other
  // producer has got at least 10 frames in (more than this thread's parked sends account for).
  while (ch.stats().framesSent < accepted + parked.length + 10) await new Promise((r) => setImmediate(r))
  ch.close()
  const outcomes = await Promise.allSettled(parked)
  for (const o of outcomes)
    if (o.status === 'rejected')
      assert.equal((o.reason as { code: string }).code, 'ERR_BEAMLINE_CHANNEL_CLOSED')
  // In order: the parked sends that made it are a prefix; every one after the first refusal is refused.
  const firstRefused = outcomes.findIndex((o) => o.status === 'rejected')
  const madeIt = firstRefused === -1 ? outcomes.length : firstRefused
  assert.ok(
    outcomes.slice(madeIt).every((o) => o.status === 'rejected'),
    'a parked send overtook another',
  )
  const mine = accepted + madeIt
  const [[theirs]] = await Promise.all([once(producer, 'message'), once(producer, 'exit')])
  const result = await consumer.result
  assert.equal(result.torn, 0)
  assert.equal(result.outOfOrder, 0)
  assert.deepEqual(result.received, { 0: mine, 1: (theirs as { sent: number }).sent })
  const s = ch.stats()
  assert.equal(s.framesReceived, s.framesSent)
  assert.equal(s.usedBytes, 0)
})
