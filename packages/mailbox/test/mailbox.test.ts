import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  InvalidOptionError,
  type Mailbox,
  MailboxClosedError,
  MailboxRegistry,
  type MailboxStats,
} from '../src/index.js'

/** The accounting identity every mailbox keeps whenever it is quiescent. */
function assertIdentity(s: MailboxStats): void {
  assert.equal(s.enqueued, s.dequeued + s.dropped.overflow + s.dropped.expired + s.length, JSON.stringify(s))
}

function invalid(fn: () => unknown, option: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, String(err))
    assert.equal(err.code, 'ERR_BEAMLINE_INVALID_OPTION')
    assert.equal(err.option, option)
    return true
  })
}

test('options are validated, naming the option', () => {
  const r = new MailboxRegistry({ capacity: 8 })
  invalid(() => r.mailbox('a', { capacity: 0 }), 'capacity')
  invalid(() => r.mailbox('a', { capacity: 1.5 }), 'capacity')
  invalid(() => r.mailbox('a', { capacity: -3 }), 'capacity')
  invalid(() => r.mailbox('a', { overflow: 'drop-newest' as never }), 'overflow')
  invalid(() => r.mailbox('a', { maxAgeMs: 0 }), 'maxAgeMs')
  invalid(() => r.mailbox('a', { overload: { targetMs: 5 } as never }), 'overload.intervalMs')
  invalid(() => r.mailbox('a', { onDrop: 'x' as never }), 'onDrop')
  invalid(() => r.mailbox('', {}), 'name')
  invalid(() => r.mailbox('x'.repeat(201)), 'name')
  invalid(() => r.mailbox('é'.repeat(101)), 'name')
  invalid(() => r.mailbox('a', { group: '' }), 'group')
  invalid(() => new MailboxRegistry({ capacity: 0 }), 'capacity')
  invalid(() => new MailboxRegistry({ nameBytes: 4 }), 'nameBytes')
  invalid(() => new MailboxRegistry({ observeIntervalMs: 1 }), 'observeIntervalMs')
  // Nothing was registered by the refused calls.
  assert.equal(r.stats().mailboxes, 0)
  assert.equal(r.mailbox('x'.repeat(200)).name.length, 200)
})

test("'reject' refuses when full, counts it, and the caller keeps the item", () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const mb = r.mailbox<number>('q', { capacity: 3 })
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((i) => mb.push(i)),
    [true, true, true, false, false],
  )
  assert.equal(mb.length, 3)
  assert.equal(mb.shift(), 1)
  assert.equal(mb.push(6), true)
  assert.deepEqual(mb.drain(), [2, 3, 6])
  const s = mb.stats()
  assert.equal(s.enqueued, 4)
  assert.equal(s.dequeued, 4)
  assert.equal(s.rejected, 2)
  assert.equal(s.peak, 3)
  assert.deepEqual(s.dropped, { overflow: 0, expired: 0, abandoned: 0 })
  assertIdentity(s)
})

test("'drop-oldest' evicts the head, counts it and passes it to onDrop", () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const drops: Array<[number, string]> = []
  const mb = r.mailbox<number>('q', {
    capacity: 3,
    overflow: 'drop-oldest',
    onDrop: (item, reason) => drops.push([item, reason]),
  })
  for (let i = 1; i <= 7; i++) assert.equal(mb.push(i), true)
  assert.deepEqual(drops, [
    [1, 'overflow'],
    [2, 'overflow'],
    [3, 'overflow'],
    [4, 'overflow'],
  ])
  assert.deepEqual(mb.drain(), [5, 6, 7])
  const s = mb.stats()
  assert.equal(s.dropped.overflow, 4)
  assert.equal(s.rejected, 0)
  assertIdentity(s)
})

test('the ring grows past its first storage and keeps FIFO order through wrap-around', () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const mb = r.mailbox<number>('q', { capacity: 5000 })
  const expected: number[] = []
  let next = 0
  for (let round = 0; round < 50; round++) {
    for (let k = 0; k < 97; k++) {
      mb.push(next)
      expected.push(next++)
    }
    for (let k = 0; k < 60; k++) assert.equal(mb.shift(), expected.shift())
  }
  assert.deepEqual(mb.drain(), expected)
  assert.equal(mb.shift(), undefined)
  assertIdentity(mb.stats())
})

test('maxAgeMs drops items that waited too long at dequeue, and counts them as expired', async () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const drops: Array<[string, string]> = []
  const mb = r.mailbox<string>('q', { maxAgeMs: 40, onDrop: (item, reason) => drops.push([item, reason]) })
  mb.push('old-1')
  mb.push('old-2')
  await sleep(120)
  mb.push('fresh')
  assert.equal(mb.length, 3)
  assert.equal(mb.shift(), 'fresh')
  assert.deepEqual(drops, [
    ['old-1', 'expired'],
    ['old-2', 'expired'],
  ])
  const s = mb.stats()
  assert.equal(s.dropped.expired, 2)
  assert.equal(s.dequeued, 1)
  assertIdentity(s)
})

test('a full mailbox expires stale items before it refuses', async () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const mb = r.mailbox<number>('q', { capacity: 2, maxAgeMs: 30 })
  mb.push(1)
  mb.push(2)
  await sleep(100)
  assert.equal(mb.push(3), true)
  assert.equal(mb.stats().rejected, 0)
  assert.equal(mb.stats().dropped.expired, 2)
  assert.deepEqual(mb.drain(), [3])
})

test('overload (CoDel): sheds only after the sojourn stayed above target for an interval', async () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const reasons: string[] = []
  const mb = r.mailbox<number>('q', {
    overload: { targetMs: 10, intervalMs: 60 },
    onDrop: (_item, reason) => reasons.push(reason),
  })
  for (let i = 0; i < 10; i++) mb.push(i)
  await sleep(30)
  // Above target, but the interval has only started: delivered.
  assert.equal(mb.shift(), 0)
  await sleep(100)
  for (let i = 10; i < 13; i++) mb.push(i)
  // Still above target after the interval: the stale head (1..9) is shed, the fresh items delivered.
  assert.equal(mb.shift(), 10)
  assert.equal(reasons.length, 9)
  assert.ok(reasons.every((reason) => reason === 'overload'))
  const s = mb.stats()
  assert.equal(s.dropped.expired, 9)
  assertIdentity(s)
  // A queue that keeps up never sheds.
  const ok = r.mailbox<number>('ok', { overload: { targetMs: 10, intervalMs: 60 } })
  for (let i = 0; i < 20; i++) {
    ok.push(i)
    await sleep(5)
    assert.equal(ok.shift(), i)
  }
  assert.equal(ok.stats().dropped.expired, 0)
})

test('a throwing onDrop is reported once and never breaks the queue', async () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const warnings: Error[] = []
  const onWarning = (w: Error) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    const mb = r.mailbox<number>('q', {
      group: 'throwing-ondrop',
      capacity: 1,
      overflow: 'drop-oldest',
      onDrop: () => {
        throw new Error('boom')
      },
    })
    for (let i = 0; i < 5; i++) assert.equal(mb.push(i), true)
    assert.deepEqual(mb.drain(), [4])
    assert.equal(mb.stats().dropped.overflow, 4)
    await sleep(10)
    const ours = warnings.filter((w) => /onDrop threw/.test(w.message))
    assert.equal(ours.length, 1)
    assert.match(ours[0]!.message, /boom/)
  } finally {
    process.off('warning', onWarning)
  }
})

test('close(): push throws, queued items drain, iteration ends, the slot is freed', async () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const mb = r.mailbox<number>('q', { group: 'closing' })
  mb.push(1)
  mb.push(2)
  mb.close()
  assert.equal(mb.closed, true)
  assert.throws(
    () => mb.push(3),
    (err: unknown) => err instanceof MailboxClosedError && err.code === 'ERR_BEAMLINE_MAILBOX_CLOSED',
  )
  // Still registered while items remain.
  assert.equal(r.stats().byGroup['closing']!.mailboxes, 1)
  const seen: number[] = []
  for await (const item of mb) seen.push(item)
  assert.deepEqual(seen, [1, 2])
  const group = r.stats().byGroup['closing']!
  assert.equal(group.mailboxes, 0)
  // The counters outlive the slot: totals never go backwards.
  assert.equal(group.enqueued, 2)
  assert.equal(group.dequeued, 2)
  mb.close()
  assert.equal(mb.shift(), undefined)
})

test('for await waits for pushes and ends at close', async () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const mb = r.mailbox<number>('q')
  const seen: number[] = []
  const reader = (async () => {
    for await (const item of mb) seen.push(item)
  })()
  for (let i = 0; i < 5; i++) {
    await sleep(2)
    mb.push(i)
  }
  await sleep(5)
  mb.close()
  await reader
  assert.deepEqual(seen, [0, 1, 2, 3, 4])
})

test('consume(): batches of at most maxDemand, at most concurrency in flight, done after close+drain', async () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const mb = r.mailbox<number>('q', { capacity: 1000 })
  for (let i = 0; i < 100; i++) mb.push(i)
  let inFlight = 0
  let maxInFlight = 0
  const batches: number[][] = []
  const consumer = mb.consume(
    async (items) => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      batches.push(items)
      await sleep(2)
      inFlight--
    },
    { maxDemand: 7, concurrency: 3 },
  )
  await sleep(5)
  for (let i = 100; i < 150; i++) mb.push(i)
  mb.close()
  await consumer.done
  assert.ok(batches.every((b) => b.length >= 1 && b.length <= 7))
  assert.equal(maxInFlight, 3)
  assert.deepEqual(
    batches.flat().sort((a, b) => a - b),
    Array.from({ length: 150 }, (_, i) => i),
  )
  assert.equal(consumer.inFlight, 0)
  assertIdentity(mb.stats())
})

test('consume(): demand-driven, so unconsumed items stay in the mailbox (bounded and visible)', async () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const mb = r.mailbox<number>('q', { capacity: 10 })
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  const taken: number[][] = []
  const consumer = mb.consume(
    (items) => {
      taken.push(items)
      return gate
    },
    { maxDemand: 2, concurrency: 1 },
  )
  await sleep(5)
  for (let i = 0; i < 20; i++) mb.push(i)
  await sleep(10)
  // The stalled handler asked for two; the rest stayed in the mailbox, which refused beyond capacity.
  assert.deepEqual(taken, [[0, 1]])
  assert.equal(consumer.inFlight, 1)
  assert.equal(mb.length, 8)
  assert.equal(mb.stats().rejected, 10)
  // stop() resolves only once the handler in flight has finished.
  const stopping = consumer.stop()
  assert.equal(
    await Promise.race([stopping.then(() => 'stopped'), sleep(20).then(() => 'pending')]),
    'pending',
  )
  release()
  await stopping
  assert.equal(consumer.inFlight, 0)
  // Stopped: nothing more is taken.
  await sleep(5)
  assert.equal(mb.length, 8)
})

test('consume(): a handler error rejects done without onError, and is passed to onError otherwise', async () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const a = r.mailbox<number>('a')
  a.push(1)
  a.push(2)
  const failing = a.consume(
    () => {
      throw new Error('handler failed')
    },
    { maxDemand: 1 },
  )
  await assert.rejects(failing.done, /handler failed/)
  assert.equal(a.length, 1)

  const b = r.mailbox<number>('b')
  const errors: unknown[] = []
  const seen: number[] = []
  const tolerant = b.consume(
    async ([item]) => {
      if (item === 2) throw new Error('two')
      seen.push(item!)
    },
    { maxDemand: 1, onError: (error, items) => errors.push([(error as Error).message, items]) },
  )
  for (let i = 1; i <= 4; i++) b.push(i)
  b.close()
  await tolerant.done
  assert.deepEqual(seen, [1, 3, 4])
  assert.deepEqual(errors, [['two', [2]]])
})

test('take(), peek() and stats().oldestAgeMs', async () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const mb: Mailbox<string> = r.mailbox('q')
  assert.equal(mb.peek(), undefined)
  assert.equal(mb.stats().oldestAgeMs, 0)
  mb.push('a')
  mb.push('b')
  mb.push('c')
  await sleep(50)
  assert.ok(mb.stats().oldestAgeMs >= 40, String(mb.stats().oldestAgeMs))
  assert.equal(mb.peek(), 'a')
  assert.deepEqual(mb.take(2), ['a', 'b'])
  invalid(() => mb.take(0), 'max')
  assert.equal(mb.length, 1)
})

test('a drained mailbox gives back storage from a burst and still works', () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const mb = r.mailbox<number>('q', { capacity: 100_000 })
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 50_000; i++) mb.push(i)
    assert.equal(mb.drain().length, 50_000)
  }
  mb.push(7)
  assert.equal(mb.shift(), 7)
  assert.equal(mb.stats().peak, 50_000)
  assertIdentity(mb.stats())
})
