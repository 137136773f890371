/*
 * The Channel's contract in one thread (plus one consumer worker): frames come back byte-identical and
 * in order across the wrap point; a full channel refuses and counts; send waits, in order, with coded
 * timeouts and aborts; close keeps what was sent; memory is capacity + a fixed header; bad options
 * and handles are refused with the option named; the registry sees the channel.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { MailboxRegistry } from '@beamline/mailbox'
import {
  Channel,
  ChannelAbortedError,
  ChannelClosedError,
  ChannelConsumerTakenError,
  ChannelTimeoutError,
  FrameTooLargeError,
  InvalidHandleError,
  InvalidOptionError,
} from '../src/index.js'
import { dataOffset, HEADER_BYTES, recordUnits, SLOT_BYTES, UNIT_BYTES } from '../src/layout.js'
import { checkFrame, makeFrame, random } from './fixtures/frames.js'

function invalid(fn: () => unknown, option: string, range?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`)
    assert.equal(err.code, 'ERR_BEAMLINE_INVALID_OPTION')
    assert.equal(err.option, option)
    if (range) assert.match(err.message, range)
    return true
  })
}

test('frames come back byte-identical and in order, empty ones and ones straddling the wrap point included', () => {
  const ch = new Channel({ name: 'wrap', capacityBytes: 512 })
  const rnd = random(7)
  let sent = 0
  let received = 0
  let straddled = 0
  let position = 0 // in units, as the ring counts, to know which frames straddle the end
  const check = (frame: Uint8Array | undefined) => {
    assert.ok(frame)
    const id = checkFrame(frame)
    if (frame.length >= 8) assert.deepEqual(id, { producer: 1, sequence: received })
    else assert.deepEqual([...frame], [...makeFrame(1, received, frame.length)])
    const start = ((position + 1) * UNIT_BYTES) % 512
    if (start + frame.length > 512) straddled++
    position += recordUnits(frame.length)
    received++
  }
  while (sent < 5_000) {
    const length = sent % 97 === 0 ? 0 : Math.floor(rnd() * 200)
    const frame = makeFrame(1, sent, length)
    if (ch.trySend(frame)) sent++
    else if (rnd() < 0.5) check(ch.receive())
    else for (const f of ch.drain(1 + Math.floor(rnd() * 4))) check(f)
  }
  for (const f of ch.drain()) check(f)
  assert.equal(received, sent)
  assert.ok(straddled > 100, `only ${straddled} frames straddled the end of the ring`)
  assert.equal(ch.receive(), undefined)
  const s = ch.stats()
  assert.equal(s.framesSent, sent)
  assert.equal(s.framesReceived, sent)
  assert.equal(s.bytesSent, s.bytesReceived)
  assert.equal(s.usedBytes, 0)
  assert.equal(s.queuedFrames, 0)
})

test('a full channel refuses at once and counts every refusal, frames and bytes', () => {
  const ch = new Channel({ name: 'full', capacityBytes: 1024 })
  const frame = new Uint8Array(56) // 8 + 56 = 64 bytes: 16 fit
  for (let i = 0; i < 16; i++) assert.equal(ch.trySend(frame), true)
  assert.equal(ch.trySend(frame), false)
  assert.equal(ch.trySend(new Uint8Array(0)), false)
  const s = ch.stats()
  assert.deepEqual([s.framesRefused, s.bytesRefused, s.usedBytes, s.queuedFrames], [2, 56, 1024, 16])
  assert.equal(ch.drain(3).length, 3)
  assert.equal(ch.stats().usedBytes, 13 * 64)
  assert.equal(ch.trySend(frame), true)
})

test('trySendMany writes the frames that fit, in order, with one reservation, and counts the rest as refused', async () => {
  const ch = new Channel({ name: 'many', capacityBytes: 1024 })
  const frames = Array.from({ length: 20 }, (_, i) => makeFrame(1, i, 56)) // 64 bytes each: 16 fit
  assert.equal(ch.trySendMany(frames.slice(0, 3)), 3)
  assert.equal(ch.trySendMany(frames.slice(3)), 13, 'the first 13 of the 17 fit')
  let s = ch.stats()
  assert.deepEqual([s.framesSent, s.framesRefused, s.bytesRefused, s.usedBytes], [16, 4, 4 * 56, 1024])
  assert.equal(ch.trySendMany(frames.slice(16)), 0)
  assert.equal(ch.stats().framesRefused, 8)
  assert.deepEqual(
    ch.drain(5).map((f) => checkFrame(f)!.sequence),
    [0, 1, 2, 3, 4],
  )
  // Across the wrap point, frames of every size, byte for byte.
  const mixed = [makeFrame(2, 0, 8), makeFrame(2, 1, 200), new Uint8Array(0), makeFrame(2, 3, 9)]
  assert.equal(ch.trySendMany(mixed), 4)
  const back = ch.drain()
  assert.deepEqual(
    back.slice(0, 11).map((f) => checkFrame(f)!.sequence),
    [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  )
  assert.deepEqual(
    back.slice(11).map((f) => f.length),
    [8, 200, 0, 9],
  )
  assert.ok(checkFrame(back[12]!) && checkFrame(back[14]!))
  assert.equal(ch.trySendMany([]), 0)
  // Every frame is checked before any is written.
  assert.throws(() => ch.trySendMany([frames[0]!, new Uint8Array(1017)]), FrameTooLargeError)
  invalid(() => ch.trySendMany([frames[0]!, 'x' as never]), 'bytes')
  invalid(() => ch.trySendMany(frames[0] as never), 'frames')
  assert.equal(ch.stats().framesSent, 20)
  // While a send() of this object waits, its later frames must not overtake it.
  for (let i = 0; i < 16; i++) ch.trySend(frames[0]!)
  const waiting = ch.send(makeFrame(3, 0, 56))
  assert.equal(ch.trySendMany([makeFrame(3, 1, 8)]), 0)
  ch.drain()
  await waiting
  assert.deepEqual(checkFrame(ch.receive()!), { producer: 3, sequence: 0 })
  ch.close()
  assert.throws(() => ch.trySendMany([frames[0]!]), ChannelClosedError)
  s = ch.stats()
  assert.equal(s.framesSent, s.framesReceived)
})

test('a frame longer than capacityBytes − 8 is ERR_BEAMLINE_FRAME_TOO_LARGE; capacityBytes − 8 fits', async () => {
  const ch = new Channel({ name: 'big', capacityBytes: 256 })
  assert.equal(ch.maxFrameBytes, 248)
  assert.throws(() => ch.trySend(new Uint8Array(249)), FrameTooLargeError)
  await assert.rejects(ch.send(new Uint8Array(249)), { code: 'ERR_BEAMLINE_FRAME_TOO_LARGE' })
  ch.trySend(new Uint8Array(8))
  ch.receive()
  // HEAD is now mid-ring: the largest frame wraps around it.
  const whole = makeFrame(3, 3, 248)
  assert.equal(ch.trySend(whole), true)
  assert.equal(ch.trySend(new Uint8Array(0)), false)
  assert.deepEqual(checkFrame(ch.receive()!), { producer: 3, sequence: 3 })
})

test('memory per channel is exactly its capacity plus a fixed header', () => {
  for (const [capacityBytes, maxThreads] of [
    [64, 1],
    [4 << 20, undefined],
    [1 << 16, 8],
  ] as const) {
    const ch = new Channel({ name: 'mem', capacityBytes, maxThreads })
    const header = HEADER_BYTES + SLOT_BYTES * (maxThreads ?? 64)
    assert.equal(dataOffset(maxThreads ?? 64), header)
    assert.equal(ch.handle.buffer.byteLength, capacityBytes + header)
  }
})

test('send waits for room, in order, and trySend does not jump the queue meanwhile', async () => {
  const ch = new Channel({ name: 'wait', capacityBytes: 256 })
  while (ch.trySend(makeFrame(0, 0, 24))) {} // 32 bytes a record: 8 of them
  const sends = [0, 1, 2].map((i) => ch.send(makeFrame(9, i, 24)))
  assert.equal(ch.stats().waitingSenders, 3)
  // Room for one more now, but parked frames go first.
  ch.receive()
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(ch.trySend(makeFrame(9, 99, 24)), false)
  const drained: number[] = []
  const pump = setInterval(() => {
    for (const f of ch.drain()) drained.push(checkFrame(f)!.producer * 1000 + checkFrame(f)!.sequence)
  }, 1)
  await Promise.all(sends)
  clearInterval(pump)
  for (const f of ch.drain()) drained.push(checkFrame(f)!.producer * 1000 + checkFrame(f)!.sequence)
  assert.deepEqual(
    drained.filter((x) => x >= 9000),
    [9000, 9001, 9002],
  )
  const s = ch.stats()
  assert.equal(s.waitingSenders, 0)
  assert.equal(s.framesSent, s.framesReceived)
})

test('a waiting send keeps its own copy: the caller may reuse its Buffer at once', async () => {
  const ch = new Channel({ name: 'copy', capacityBytes: 128 })
  while (ch.trySend(new Uint8Array(8))) {}
  const scratch = Buffer.alloc(8, 1)
  const sent = ch.send(scratch)
  scratch.fill(2)
  ch.drain()
  await sent
  assert.deepEqual([...ch.receive()!], new Array(8).fill(1))
})

test('send deadlines and aborts are coded, counted, and send nothing', async () => {
  const ch = new Channel({ name: 'late', capacityBytes: 128 })
  while (ch.trySend(new Uint8Array(8))) {}
  const before = ch.stats().framesSent
  await assert.rejects(ch.send(new Uint8Array(8), { timeoutMs: 0 }), ChannelTimeoutError)
  await assert.rejects(ch.send(new Uint8Array(8), { timeoutMs: 5 }), { code: 'ERR_BEAMLINE_CHANNEL_TIMEOUT' })
  const controller = new AbortController()
  const aborted = ch.send(new Uint8Array(8), { signal: controller.signal })
  controller.abort(new Error('user left'))
  await assert.rejects(aborted, (err: unknown) => {
    assert.ok(err instanceof ChannelAbortedError)
    assert.equal(err.code, 'ERR_BEAMLINE_CHANNEL_ABORTED')
    assert.match(String((err.cause as Error).message), /user left/)
    return true
  })
  await assert.rejects(ch.send(new Uint8Array(8), { signal: AbortSignal.abort() }), ChannelAbortedError)
  const s = ch.stats()
  assert.deepEqual([s.timedOut, s.framesSent, s.waitingSenders], [2, before, 0])
})

test('close: producers are refused, parked sends rejected, frames sent before stay readable, iteration ends', async () => {
  const ch = new Channel({ name: 'close', capacityBytes: 128 })
  let sent = 0
  while (ch.trySend(makeFrame(0, sent, 8))) sent++
  const parked = ch.send(makeFrame(0, 99, 8))
  ch.close()
  // Before the parked send has even been woken: closed, not full.
  assert.throws(() => ch.trySend(new Uint8Array(1)), ChannelClosedError)
  await assert.rejects(parked, ChannelClosedError)
  assert.throws(() => ch.trySend(new Uint8Array(1)), { code: 'ERR_BEAMLINE_CHANNEL_CLOSED' })
  await assert.rejects(ch.send(new Uint8Array(1)), ChannelClosedError)
  assert.equal(ch.closed, true)
  const seen: number[] = []
  for await (const frame of ch) seen.push(checkFrame(frame)!.sequence)
  assert.deepEqual(
    seen,
    Array.from({ length: sent }, (_, i) => i),
  )
  assert.equal(ch.receive(), undefined)
  assert.equal(ch.stats().closed, true)
})

test('breaking out of for-await loses nothing; the next loop goes on from there', async () => {
  const ch = new Channel({ name: 'break', capacityBytes: 1024 })
  for (let i = 0; i < 10; i++) ch.trySend(makeFrame(0, i, 8))
  const seen: number[] = []
  for await (const frame of ch) {
    seen.push(checkFrame(frame)!.sequence)
    if (seen.length === 4) break
  }
  ch.close()
  for await (const frame of ch) seen.push(checkFrame(frame)!.sequence)
  assert.deepEqual(
    seen,
    Array.from({ length: 10 }, (_, i) => i),
  )
})

test('bad options and arguments name the option and the accepted range', async () => {
  invalid(() => new Channel(undefined as never), 'options')
  invalid(() => new Channel({ name: '', capacityBytes: 1024 }), 'name', /non-empty/)
  invalid(
    () => new Channel({ name: 'x', capacityBytes: 1000 }),
    'capacityBytes',
    /power of two from 64 to 1073741824/,
  )
  invalid(() => new Channel({ name: 'x', capacityBytes: 32 }), 'capacityBytes', /from 64 to 1073741824/)
  invalid(() => new Channel({ name: 'x', capacityBytes: 2 ** 31 }), 'capacityBytes')
  invalid(() => new Channel({ name: 'x', capacityBytes: 1.5 }), 'capacityBytes')
  invalid(
    () => new Channel({ name: 'x', capacityBytes: 1024, maxThreads: 0 }),
    'maxThreads',
    /from 1 to 4096/,
  )
  invalid(() => new Channel({ name: 'x', capacityBytes: 1024, maxThreads: 5000 }), 'maxThreads')
  invalid(() => new Channel({ name: 'x', capacityBytes: 1024, registry: {} as never }), 'registry')
  invalid(() => new Channel({ name: 'x', capacityBytes: 1024, group: '' }), 'group')
  const ch = new Channel({ name: 'x', capacityBytes: 1024 })
  invalid(() => ch.trySend('hello' as never), 'bytes', /Uint8Array/)
  invalid(() => ch.trySend([1, 2] as never), 'bytes')
  invalid(() => ch.drain(0), 'max')
  await assert.rejects(ch.send(new Uint8Array(1), { timeoutMs: -1 }), { option: 'timeoutMs' })
  await assert.rejects(ch.send(new Uint8Array(1), { timeoutMs: 2 ** 31 }), /2147483647/)
  await assert.rejects(ch.send(null as never), { option: 'bytes' })
})

test('attach refuses anything that is not a channel handle of this layout', () => {
  const ch = new Channel({ name: 'h', capacityBytes: 1024 })
  const refused = (value: unknown) => assert.throws(() => Channel.attach(value as never), InvalidHandleError)
  refused(null)
  refused({ kind: 'beamline.semaphore', version: 1 })
  refused({ ...ch.handle, version: 99 })
  refused({ ...ch.handle, buffer: new SharedArrayBuffer(ch.handle.buffer.byteLength - 8) })
  refused({ ...ch.handle, buffer: new ArrayBuffer(ch.handle.buffer.byteLength) })
  refused({ ...ch.handle, name: 7 })
  const same = Channel.attach(structuredClone(ch.handle))
  same.trySend(makeFrame(2, 5, 9))
  assert.deepEqual(checkFrame(ch.receive()!), { producer: 2, sequence: 5 })
})

test('a channel created with a registry is an observed queue there, its length the frames waiting', () => {
  const registry = new MailboxRegistry({ capacity: 16 })
  const ch = new Channel({ name: 'worker-1', capacityBytes: 4096, registry, group: 'fanout' })
  for (let i = 0; i < 5; i++) ch.trySend(new Uint8Array(10))
  registry.sampleObserved()
  let s = registry.stats()
  assert.equal(s.observed, 1)
  assert.equal(s.byGroup['fanout']?.queued, 5)
  assert.deepEqual(
    registry.top(1).map((row) => [row.name, row.length]),
    [['worker-1', 5]],
  )
  ch.drain(2)
  registry.sampleObserved()
  assert.equal(registry.stats().byGroup['fanout']?.queued, 3)
  ch.close()
  s = registry.stats()
  assert.equal(s.observed, 0)
  registry.close()
})

test('one consumer thread: another is refused until it exits, then takes over where it stopped', async () => {
  const ch = new Channel({ name: 'one-consumer', capacityBytes: 4096 })
  for (let i = 0; i < 6; i++) ch.trySend(makeFrame(0, i, 12))
  const worker = new Worker(new URL('./fixtures/consumer.js', import.meta.url), {
    workerData: { handle: ch.handle, count: 4, hold: true },
  })
  const [seen] = await once(worker, 'message')
  assert.deepEqual(seen, [0, 1, 2, 3])
  assert.throws(
    () => ch.receive(),
    (err: unknown) => {
      assert.ok(err instanceof ChannelConsumerTakenError)
      assert.equal(err.code, 'ERR_BEAMLINE_CHANNEL_CONSUMER_TAKEN')
      assert.match(err.message, new RegExp(`thread ${worker.threadId}`))
      return true
    },
  )
  const exited = once(worker, 'exit')
  worker.postMessage('exit')
  await exited
  assert.deepEqual(
    ch.drain().map((f) => checkFrame(f)!.sequence),
    [4, 5],
  )
})
