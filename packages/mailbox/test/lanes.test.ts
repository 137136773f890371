import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { InvalidOptionError, MailboxClosedError, MailboxRegistry } from '../src/index.js'

interface Msg {
  dest: string
  seq: number
}

test('lanes: options validated (lanes 1–1024, key required)', () => {
  const r = new MailboxRegistry({ capacity: 2048 })
  for (const lanes of [0, 1025, 2.5]) {
    assert.throws(
      () => r.lanes<Msg>('out', { lanes, key: (m) => m.dest }),
      (err: unknown) => err instanceof InvalidOptionError && err.option === 'lanes',
    )
  }
  assert.throws(
    () => r.lanes<Msg>('out', {} as never),
    (err: unknown) => err instanceof InvalidOptionError && err.option === 'key',
  )
  assert.throws(
    () => r.lanes<Msg>('out', { key: (m) => m.dest, capacityPerLane: 0 }),
    (err: unknown) => err instanceof InvalidOptionError && err.option === 'capacityPerLane',
  )
  assert.equal(r.lanes<Msg>('max', { lanes: 1024, key: (m) => m.dest }).count, 1024)
  assert.equal(r.lanes<Msg>('one', { lanes: 1, key: (m) => m.dest }).count, 1)
})

test('lanes: named name#i in one group, same key same lane in order, one full lane refuses alone', () => {
  const r = new MailboxRegistry({ capacity: 64 })
  const lanes = r.lanes<Msg>('out', { lanes: 8, key: (m) => m.dest, capacityPerLane: 5 })
  assert.equal(lanes[3]!.name, 'out#3')
  assert.equal(lanes[3]!.group, 'out')
  assert.equal(r.lanes<Msg>('x', { lanes: 2, key: (m) => m.dest, group: 'custom' })[1]!.group, 'custom')
  const slow = lanes.laneOf({ dest: 'slow', seq: 0 })
  for (let seq = 0; seq < 10; seq++) lanes.push({ dest: 'slow', seq })
  assert.equal(lanes[slow]!.length, 5)
  assert.equal(lanes[slow]!.stats().rejected, 5)
  // Another destination on another lane is unaffected.
  const other = ['a', 'b', 'c', 'd', 'e', 'f'].find((dest) => lanes.laneOf({ dest, seq: 0 }) !== slow)!
  assert.equal(lanes.push({ dest: other, seq: 0 }), true)
  const items = lanes[slow]!.drain()
  assert.deepEqual(
    items.map((m) => m.seq),
    [0, 1, 2, 3, 4],
  )
  // Integer keys map directly.
  const byNumber = r.lanes<number>('n', { lanes: 4, key: (n) => n })
  assert.deepEqual(
    [0, 1, 5, -1].map((n) => byNumber.laneOf(n)),
    [0, 1, 1, 3],
  )
  const s = r.stats().byGroup['out']!
  assert.equal(s.mailboxes, 8)
  assert.equal(s.rejected, 5)
  assert.equal(lanes.stats().lanes.length, 8)
  assert.equal(lanes.stats().length, 1)
})

test('lanes: shift() is fair, round-robin across non-empty lanes', () => {
  const r = new MailboxRegistry({ capacity: 16 })
  const lanes = r.lanes<number>('rr', { lanes: 4, key: (n) => n % 4 })
  // Lane 0 gets 100 items, the others 3 each.
  for (let i = 0; i < 100; i++) lanes.push(i * 4)
  for (let lane = 1; lane < 4; lane++) for (let k = 0; k < 3; k++) lanes.push(k * 4 + lane)
  const first = Array.from({ length: 12 }, () => lanes.shift()! % 4)
  assert.deepEqual(first, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
  assert.equal(lanes.length, 97)
  assert.equal(lanes.drain().length, 97)
  assert.equal(lanes.shift(), undefined)
  lanes.close()
  assert.throws(() => lanes.push(1), MailboxClosedError)
  assert.equal(lanes.closed, true)
})

test('head-of-line: one lane stalls, the other lanes keep their throughput', async () => {
  const r = new MailboxRegistry({ capacity: 16 })
  const lanes = r.lanes<Msg>('hol', { lanes: 4, key: (m) => m.dest, capacityPerLane: 100_000 })
  const dests = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7', 'd8', 'd9']
  const stalledLane = lanes.laneOf({ dest: 'stuck', seq: 0 })
  const healthy = dests.filter((dest) => lanes.laneOf({ dest, seq: 0 }) !== stalledLane)
  assert.ok(healthy.length >= 3)
  const delivered = new Map<string, number>()
  let releaseStall!: () => void
  const stall = new Promise<void>((resolve) => (releaseStall = resolve))
  const consumer = lanes.consume(
    async (items) => {
      if (items.some((m) => m.dest === 'stuck')) await stall
      for (const m of items) delivered.set(m.dest, (delivered.get(m.dest) ?? 0) + 1)
      await sleep(1)
    },
    { maxDemand: 10 },
  )
  const perDest = 500
  for (let seq = 0; seq < perDest; seq++) {
    lanes.push({ dest: 'stuck', seq })
    for (const dest of healthy) lanes.push({ dest, seq })
  }
  const deadline = Date.now() + 20_000
  while (healthy.some((d) => (delivered.get(d) ?? 0) < perDest) && Date.now() < deadline) await sleep(10)
  for (const dest of healthy)
    assert.equal(delivered.get(dest), perDest, `${dest} starved behind the stalled lane`)
  assert.equal(delivered.get('stuck') ?? 0, 0)
  assert.ok(lanes[stalledLane]!.length >= perDest - 10)
  releaseStall()
  lanes.close()
  await consumer.done
  assert.equal(delivered.get('stuck'), perDest)
})
