/*
 * Manifold's contract: over 4 workers and a HashRing, 30 000 recipients each get each message meant
 * for them exactly once, at the worker that owns them, in the order each sender sent (two senders in
 * two threads at once); one frame per owning worker, the payload encoded once; numbers or strings;
 * JSON, bytes or any codec (msgpackr here); order holds when channels are full and sends wait; bad
 * input is refused before anything is written.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { HashRing } from '@beamline/ring'
import { Packr } from 'msgpackr'
import {
  Channel,
  FrameTooLargeError,
  InvalidOptionError,
  Manifold,
  ManifoldFrameError,
  ManifoldOwnerError,
} from '../src/index.js'
import { isRecipient, recipientIds } from './fixtures/recipients.js'

test('4 workers, a HashRing, 30 000 recipients, two senders: each message exactly once, in send order', async () => {
  const count = 30_000
  const messages = 12
  const nodes = ['w0', 'w1', 'w2', 'w3']
  const ring = new HashRing({ nodes })
  const channels = nodes.map((name) => new Channel({ name, capacityBytes: 1 << 20 }))
  const manifold = new Manifold<{ sender: number; seq: number }, string>({ channels, owners: ring })
  const workers = nodes.map(
    (_, workerIndex) =>
      new Worker(new URL('./fixtures/manifold-worker.js', import.meta.url), {
        workerData: {
          manifold: manifold.handle,
          ring: ring.handle,
          workerIndex,
          count,
          messages,
          senders: 2,
          send: workerIndex === 3,
        },
      }),
  )
  await Promise.all(workers.map((w) => once(w, 'message')))
  const otherSenderDone = once(workers[3]!, 'message')
  workers[3]!.postMessage('go')
  const ids = recipientIds(count)
  const everyone = manifold.group(ids) // every third message goes to all: grouped once
  for (let seq = 0; seq < messages; seq++) {
    const framesBefore = channels.map((c) => c.stats().framesSent)
    await manifold.send(seq % 3 === 0 ? everyone : ids.filter((_, i) => isRecipient(i, 0, seq)), {
      sender: 0,
      seq,
    })
    const frames = channels.reduce((n, c, i) => n + c.stats().framesSent - framesBefore[i]!, 0)
    assert.ok(frames >= 4, 'one frame per owning worker') // the other sender may have written too
  }
  await otherSenderDone
  for (const c of channels) c.close()
  const results = await Promise.all(
    workers.map(async (w) => {
      const [[result]] = await Promise.all([once(w, 'message'), once(w, 'exit')])
      return result as { delivered: number; owned: number; errors: string[] }
    }),
  )
  for (const r of results) assert.deepEqual(r.errors, [])
  let expected = 0
  for (let sender = 0; sender < 2; sender++)
    for (let seq = 0; seq < messages; seq++)
      for (let i = 0; i < count; i++) if (isRecipient(i, sender, seq)) expected++
  assert.equal(
    results.reduce((n, r) => n + r.delivered, 0),
    expected,
  )
  assert.equal(
    results.reduce((n, r) => n + r.owned, 0),
    count,
  )
  assert.ok(
    results.every((r) => r.owned > count / 8),
    'the ring spreads recipients over all workers',
  )
  // 2 senders × 12 messages × 4 workers: one frame each, never one per recipient.
  assert.equal(
    channels.reduce((n, c) => n + c.stats().framesReceived, 0),
    2 * messages * 4,
  )
})

test('numbers, a function as owners, the bytes codec; a thread may consume several channels', async () => {
  const channels = [0, 1, 2].map((i) => new Channel({ name: `n${i}`, capacityBytes: 1 << 16 }))
  const manifold = new Manifold<Uint8Array, number>({
    channels,
    owners: (id) => Math.abs(id) % 3,
    codec: 'bytes',
  })
  const got: [number, number[], number[]][] = []
  const receivers = channels.map((_, workerIndex) =>
    Manifold.attach<Uint8Array, number>(manifold.handle, { workerIndex }).receive((ids, message) =>
      got.push([workerIndex, [...ids], [...message]]),
    ),
  )
  const payload = new Uint8Array([1, 2, 3])
  try {
    await manifold.send([0, 1, 2, 3, 4, 5, 6.5e9, -7], payload)
    payload[0] = 9 // the message was encoded at send time
    await manifold.send([2], new Uint8Array([4]))
  } finally {
    for (const c of channels) c.close() // ends the receivers (which keep the process alive) whatever happens
  }
  await Promise.all(receivers)
  got.sort((a, b) => a[0] - b[0])
  assert.deepEqual(got, [
    [0, [0, 3], [1, 2, 3]],
    [1, [1, 4, -7], [1, 2, 3]],
    [2, [2, 5, 6.5e9], [1, 2, 3]],
    [2, [2], [4]],
  ])
})

test('any { encode, decode } is a codec: msgpackr, and ids in any script, lone surrogates included', async () => {
  const packr = new Packr()
  const codec = { encode: (m: unknown) => packr.pack(m), decode: (b: Uint8Array) => packr.unpack(b) }
  const channels = [
    new Channel({ name: 'a', capacityBytes: 4096 }),
    new Channel({ name: 'b', capacityBytes: 4096 }),
  ]
  const ring = new HashRing({ nodes: ['a', 'b'] })
  const manifold = new Manifold({ channels, owners: ring, codec })
  assert.equal(manifold.handle.codec, 'custom')
  assert.throws(() => Manifold.attach(manifold.handle, { workerIndex: 0 }), { option: 'codec' })
  const ids = ['ascii', 'ünïcödé', '汉字', '😀', '\ud800', 'x\udfffy', '']
  const got = new Map<string, unknown>()
  const receivers = [0, 1].map((workerIndex) =>
    Manifold.attach(manifold.handle, { workerIndex, codec }).receive((recipients, message) => {
      for (const id of recipients) got.set(id as string, message)
    }),
  )
  const message = { text: 'hi', at: new Date(0), n: [1, 2n] }
  await manifold.send(ids, message)
  for (const c of channels) c.close()
  await Promise.all(receivers)
  assert.deepEqual([...got.keys()].sort(), [...ids].sort())
  for (const value of got.values()) assert.deepEqual(value, message)
})

test('frames keep their order per recipient when channels are full and sends wait', async () => {
  const channels = [new Channel({ name: 'tiny', capacityBytes: 256 })]
  const manifold = new Manifold<number, number>({ channels, owners: () => 0 })
  const sends = Array.from({ length: 40 }, (_, seq) => manifold.send([1, 2], seq)) // not awaited
  const seen: number[] = []
  const receiving = new Manifold<number, number>({ channels, workerIndex: 0 }).receive((ids, seq) => {
    assert.deepEqual(ids, [1, 2])
    seen.push(seq)
  })
  await Promise.all(sends)
  channels[0]!.close()
  await receiving
  assert.deepEqual(
    seen,
    Array.from({ length: 40 }, (_, i) => i),
  )
})

test('bad input is refused before anything is written, with the option or owner named', async () => {
  const channels = [
    new Channel({ name: 'c0', capacityBytes: 1024 }),
    new Channel({ name: 'c1', capacityBytes: 1024 }),
  ]
  const byIndex = new Manifold<unknown, string | number>({ channels, owners: (id) => (id === 'x' ? 2 : 0) })
  const rejects = (p: Promise<void>, check: object) => assert.rejects(p, check)
  await rejects(byIndex.send('ab' as never, 1), { option: 'recipientIds' })
  await rejects(byIndex.send(['a', 1], 1), { option: 'recipientIds', message: /all strings or all numbers/ })
  await rejects(byIndex.send(['a', 'x'], 1), (err: unknown) => {
    assert.ok(err instanceof ManifoldOwnerError)
    assert.equal(err.code, 'ERR_BEAMLINE_MANIFOLD_OWNER')
    assert.match(err.message, /owners\("x"\) returned 2; it must be an integer from 0 to 1/)
    return true
  })
  await rejects(byIndex.send(['a'], undefined), { option: 'message' })
  await rejects(byIndex.send(['a'], 'x'.repeat(2000)), FrameTooLargeError)
  const ring = new HashRing({ nodes: ['c0', 'elsewhere'] })
  const byRing = new Manifold({ channels, owners: ring })
  const lost = Array.from({ length: 50 }, (_, i) => `id-${i}`)
  await rejects(byRing.send(lost, 1), { code: 'ERR_BEAMLINE_MANIFOLD_OWNER', message: /"elsewhere"/ })
  assert.deepEqual(
    channels.map((c) => c.stats().framesSent),
    [0, 0],
    'nothing was written',
  )
  await rejects(new Manifold({ channels }).send(['a'], 1), { option: 'owners' })
  const invalid = (fn: () => unknown, option: string) =>
    assert.throws(fn, (err: unknown) => err instanceof InvalidOptionError && err.option === option)
  invalid(() => new Manifold({ channels: [] }), 'channels')
  invalid(() => new Manifold({ channels: [channels[0]!.handle as never] }), 'channels')
  invalid(() => new Manifold({ channels, owners: 3 as never }), 'owners')
  invalid(() => new Manifold({ channels, codec: 'msgpack' as never }), 'codec')
  invalid(() => new Manifold({ channels, workerIndex: 2 }), 'workerIndex')
  invalid(() => new Manifold({ channels, ownerCacheSize: -1 }), 'ownerCacheSize')
  invalid(
    () => new Manifold({ channels: [channels[0]!, Channel.attach(channels[0]!.handle)], owners: ring }),
    'channels',
  )
  await assert.rejects(
    new Manifold({ channels }).receive(() => {}),
    { option: 'workerIndex' },
  )
  await assert.rejects(new Manifold({ channels, workerIndex: 0 }).receive(null as never), {
    option: 'handler',
  })
  // A frame some other sender wrote is refused by the receiver, not misread.
  channels[1]!.trySend(new Uint8Array([1, 2, 3]))
  await assert.rejects(
    new Manifold({ channels, workerIndex: 1 }).receive(() => {}),
    ManifoldFrameError,
  )
})

test('a ring change is seen at the next send: the owner cache follows the ring version', async () => {
  const channels = ['a', 'b'].map((name) => new Channel({ name, capacityBytes: 1 << 16 }))
  const ring = new HashRing({ nodes: ['a'] })
  const manifold = new Manifold<number, string>({ channels, owners: ring })
  const ids = Array.from({ length: 100 }, (_, i) => `s${i}`)
  await manifold.send(ids, 1)
  ring.add('b')
  await manifold.send(ids, 2)
  const perWorker = channels.map((c) => c.drain().length)
  assert.deepEqual(perWorker, [2, 1])
})

test('a group is sent again and again without per-recipient work; receivers reuse what they decoded', async () => {
  const channels = ['a', 'b'].map((name) => new Channel({ name, capacityBytes: 1 << 16 }))
  const ring = new HashRing({ nodes: ['a'] })
  const manifold = new Manifold<number, string>({ channels, owners: ring })
  const members = Array.from({ length: 100 }, (_, i) => `member-${i}`)
  const room = manifold.group(members)
  members.push('late') // the group keeps the list it was made from
  assert.equal(room.size, 100)
  const got: [number, readonly string[], number][] = []
  const receivers = [0, 1].map((workerIndex) =>
    Manifold.attach<number, string>(manifold.handle, { workerIndex }).receive((ids, seq) =>
      got.push([workerIndex, ids, seq]),
    ),
  )
  try {
    await manifold.send(room, 1)
    await manifold.send(room, 2)
    await manifold.send(room.ids.slice(0, 3), 3) // a plain array: decoded anew
    ring.add('b') // regrouped at the next send
    await manifold.send(room, 4)
    await manifold.send(room, 5)
    await assert.rejects(new Manifold({ channels, owners: ring }).send(room as never, 6), {
      option: 'recipients',
    })
  } finally {
    for (const c of channels) c.close()
  }
  await Promise.all(receivers)
  const first = got.filter(([w]) => w === 0)
  assert.deepEqual(
    first.slice(0, 3).map(([, ids, seq]) => [ids.length, seq]),
    [
      [100, 1],
      [100, 2],
      [3, 3],
    ],
  )
  assert.equal(first[1]![1], first[0]![1], 'the same ids were decoded once')
  assert.ok(Object.isFrozen(first[0]![1]))
  for (const seq of [4, 5]) {
    const parts = got.filter(([, , s]) => s === seq)
    assert.equal(parts.length, 2, 'after the ring change the group spans both workers')
    assert.deepEqual(parts.flatMap(([, ids]) => ids).sort(), [...room.ids].sort())
    for (const [w, ids] of parts) for (const id of ids) assert.equal(ring.get(id), ['a', 'b'][w])
  }
})

test('an id array sent again is recognised id by id: regrouped only when it changed, receivers reuse what they decoded', async () => {
  const ring = new HashRing({ nodes: ['a', 'b'] })
  const { manifold, sent, got, done } = fanoutToTwo(ring, 100_000)
  const members = Array.from({ length: 200 }, (_, i) => `member-${i}`)
  try {
    await manifold.send(sent(members, 1), 1)
    await manifold.send(sent(members, 2), 2) // the first repeat: encoded once, as a group
    await manifold.send(sent(members, 3), 3)
    await manifold.send(sent([...members], 4), 4) // another array, the same ids in the same order
    members[7] = 'newcomer' // changed in place: must not pass for the list sent before
    await manifold.send(sent(members, 5), 5)
    await manifold.send(sent(members.slice(0, 150), 6), 6) // a prefix: a new list
    ring.remove('b') // everyone moves to a
    await manifold.send(sent(members, 7), 7)
    await manifold.send(sent(members, 8), 8)
    await assert.rejects(manifold.send(['member-0', 2 as never], 9), { option: 'recipientIds' })
  } finally {
    await done()
  }
  const at = (seq: number, w: number) => got.find(([gw, , s]) => s === seq && gw === w)![1]
  for (const w of [0, 1]) {
    assert.equal(at(3, w), at(2, w), 'the repeat was not decoded again')
    assert.equal(at(4, w), at(2, w), 'equal ids in another array are the same list')
    assert.ok(Object.isFrozen(at(2, w)))
  }
  assert.deepEqual(
    got.filter(([, , s]) => s >= 7).map(([w]) => w),
    [0, 0],
    'after the ring change, all at a',
  )
  // A list longer than ownerCacheSize is not remembered: grouped and decoded anew each time.
  const uncached = fanoutToTwo(new HashRing({ nodes: ['a', 'b'] }), 100)
  try {
    for (const seq of [1, 2, 3]) await uncached.manifold.send(uncached.sent(members, seq), seq)
  } finally {
    await uncached.done()
  }
  const lists = uncached.got.filter(([w]) => w === 0).map(([, ids]) => ids)
  assert.equal(new Set(lists).size, 3)
})

/**
 * A Manifold over two channels 'a' and 'b' received in this thread. sent() records each send's ids
 * and their owners then; done() closes, waits for the receivers and checks that every send reached
 * each of its ids exactly once, at its owner.
 */
function fanoutToTwo(ring: HashRing, ownerCacheSize: number) {
  const channels = ['a', 'b'].map((name) => new Channel({ name, capacityBytes: 1 << 16 }))
  const manifold = new Manifold<number, string>({ channels, owners: ring, ownerCacheSize })
  const got: [number, readonly string[], number][] = []
  const receivers = [0, 1].map((workerIndex) =>
    Manifold.attach<number, string>(manifold.handle, { workerIndex }).receive((ids, seq) =>
      got.push([workerIndex, ids, seq]),
    ),
  )
  const expected = new Map<number, string[]>()
  const sent = (ids: string[], seq: number) => {
    expected.set(seq, ids.map((id) => `${ring.get(id)}/${id}`).sort())
    return ids
  }
  const done = async () => {
    for (const c of channels) c.close()
    await Promise.all(receivers)
    for (const [seq, ids] of expected) {
      const delivered = got
        .filter(([, , s]) => s === seq)
        .flatMap(([w, list]) => list.map((id) => `${['a', 'b'][w]}/${id}`))
      assert.deepEqual(delivered.sort(), ids, `send ${seq}: each id exactly once, at its owner`)
    }
  }
  return { manifold, sent, got, done }
}
