/*
 * Invariant: a producer that dies with a frame reserved and half-written leaves nothing the consumer
 * can read half of, and the channel keeps working. The consumer skips the abandoned record only once
 * the thread's exit is recorded (never on a timeout: a slow producer is waited for), counts it in
 * `abandoned`, and reads on: frames committed after it, by other threads, arrive whole and in order.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { Channel } from '../src/index.js'
import { checkFrame, makeFrame, random } from './fixtures/frames.js'

function dying(ch: Channel, producer: number, mode: string, before = 3) {
  return new Worker(new URL('./fixtures/dying-producer.js', import.meta.url), {
    workerData: { handle: ch.handle, producer, before, mode },
    stderr: true, // the crashing worker's error is expected
  })
}

for (const mode of ['exit', 'throw', 'terminate'] as const) {
  test(`a producer that dies mid-write (${mode}) is skipped once it is gone, and the channel goes on`, async () => {
    const ch = new Channel({ name: `dead-${mode}`, capacityBytes: 4096 })
    const worker = dying(ch, 1, mode)
    worker.on('error', () => {}) // 'throw' mode; events.once would reject on it
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    if (mode === 'terminate') {
      const [msg] = await once(worker, 'message')
      assert.equal(msg, 'reserved')
      // Alive with its reservation open: the consumer must wait for it, however long.
      assert.equal(ch.trySend(makeFrame(0, 0, 50)), true)
      const early = ch.drain().map((f) => checkFrame(f))
      assert.deepEqual(
        early,
        [1, 1, 1].map((producer, sequence) => ({ producer, sequence })),
      )
      await sleep(20)
      assert.equal(ch.receive(), undefined, 'a live producer’s record was skipped')
      await worker.terminate()
    } else {
      await exited
      assert.equal(ch.trySend(makeFrame(0, 0, 50)), true)
    }
    await exited
    const seen: { producer: number; sequence: number }[] = []
    ch.close()
    for await (const frame of ch) {
      const id = checkFrame(frame)
      assert.ok(id, 'a frame came back torn')
      seen.push(id)
    }
    const expected =
      mode === 'terminate'
        ? [{ producer: 0, sequence: 0 }]
        : [
            { producer: 1, sequence: 0 },
            { producer: 1, sequence: 1 },
            { producer: 1, sequence: 2 },
            { producer: 0, sequence: 0 },
          ]
    assert.deepEqual(seen, expected)
    const s = ch.stats()
    assert.equal(s.abandoned, 1)
    assert.equal(s.framesSent, 4, "the dead thread's 3 frames still count")
    assert.equal(s.framesReceived, 4)
    assert.equal(s.usedBytes, 0)
  })
}

test('the consumer parked behind an abandoned record is woken when its producer dies', async () => {
  const ch = new Channel({ name: 'parked', capacityBytes: 4096 })
  const worker = dying(ch, 1, 'terminate', 0)
  await once(worker, 'message')
  const reading = (async () => {
    for await (const frame of ch) return checkFrame(frame)
  })()
  assert.equal(ch.trySend(makeFrame(0, 7, 30)), true) // behind the open record
  await sleep(10)
  assert.equal(ch.stats().consumerWaiting, true)
  await worker.terminate()
  assert.deepEqual(await reading, { producer: 0, sequence: 7 })
  assert.equal(ch.stats().abandoned, 1)
})

test('watch() next to the automatic listener: one exit is reclaimed once, and the slot is reused', async () => {
  const ch = new Channel({ name: 'watched', capacityBytes: 4096, maxThreads: 2 })
  ch.trySend(new Uint8Array(4)) // this thread takes one of the two slots
  for (let round = 0; round < 4; round++) {
    const worker = dying(ch, round + 1, 'exit', 1)
    ch.watch(worker)
    await once(worker, 'exit')
    ch.watch(worker) // exited: a no-op
    assert.equal(ch.drain().length, round === 0 ? 2 : 1)
  }
  const s = ch.stats()
  assert.deepEqual([s.abandoned, s.framesSent, s.framesReceived], [4, 5, 5])
})

test('producers terminated at random points while sending big frames: nothing torn, nothing out of order', async () => {
  const ch = new Channel({ name: 'terminated', capacityBytes: 1 << 18 })
  const rnd = random(42)
  const next = new Map<number, number>()
  let received = 0
  const consuming = (async () => {
    for await (const frame of ch) {
      const id = checkFrame(frame)
      assert.ok(id, `frame ${received} (${frame.length} bytes) came back torn`)
      assert.equal(id.sequence, next.get(id.producer) ?? 0, `producer ${id.producer} out of order`)
      next.set(id.producer, id.sequence + 1)
      received++
    }
  })()
  const rounds = 16
  for (let producer = 1; producer <= rounds; producer++) {
    const worker = dying(ch, producer, 'loop')
    await once(worker, 'message')
    await sleep(rnd() * 25)
    await worker.terminate()
  }
  // The channel still works, from this thread too.
  assert.equal(await ch.send(makeFrame(999, 0, 1000)), undefined)
  ch.close()
  await consuming
  assert.equal(next.get(999), 1)
  const s = ch.stats()
  assert.equal(s.framesReceived, received)
  assert.equal(s.framesSent, received, 'a frame was committed and not counted, or counted and lost')
  assert.deepEqual([s.usedBytes, s.waitingSenders], [0, 0])
  assert.ok(received > rounds, `only ${received} frames went through`)
})

test('a producer that dies in the middle of a trySendMany batch leaves the frames it committed, and the rest is skipped whole', async () => {
  const ch = new Channel({ name: 'dead-batch', capacityBytes: 4096 })
  const worker = dying(ch, 1, 'batch', 2)
  const [code] = await once(worker, 'exit')
  assert.equal(code, 0, 'it exited from inside the batch')
  assert.equal(ch.trySend(makeFrame(0, 0, 50)), true)
  ch.close()
  const seen: unknown[] = []
  for await (const frame of ch) seen.push(checkFrame(frame))
  assert.deepEqual(seen, [
    { producer: 1, sequence: 0 },
    { producer: 1, sequence: 1 },
    { producer: 1, sequence: 2 }, // the batch's first frame, committed before the death
    { producer: 0, sequence: 0 },
  ])
  const s = ch.stats()
  assert.deepEqual([s.abandoned, s.framesSent, s.framesReceived, s.usedBytes], [1, 4, 4, 0])
})

test('regression: a dead record that fills the ring to the last byte ends the drain, the first frame is not read twice', async () => {
  // 512 units: three frames of 166 units, then the dying thread's 14-unit reservation ends at HEAD's place.
  const ch = new Channel({ name: 'full-lap', capacityBytes: 4096 })
  for (let sequence = 0; sequence < 3; sequence++)
    assert.equal(ch.trySend(makeFrame(0, sequence, 1320)), true)
  const worker = dying(ch, 1, 'terminate', 0)
  await once(worker, 'message')
  assert.equal(ch.stats().usedBytes, 4096)
  await worker.terminate()
  assert.deepEqual(
    ch.drain().map((f) => checkFrame(f)),
    [0, 1, 2].map((sequence) => ({ producer: 0, sequence })),
  )
  const s = ch.stats()
  assert.deepEqual([s.abandoned, s.framesReceived, s.usedBytes], [1, 3, 0])
  assert.equal(ch.trySend(new Uint8Array(100)), true)
})
