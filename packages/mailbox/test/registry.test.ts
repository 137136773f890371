import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  InvalidHandleError,
  InvalidOptionError,
  type Mailbox,
  MailboxRegistry,
  type RegistryStats,
} from '../src/index.js'
import { AGG_MAILBOXES, AGG_NONEMPTY, FREE, RETIRED, STATE, slotIndex } from '../src/layout.js'

/** Registry totals must equal the sum of the groups. */
function assertTotals(s: RegistryStats): void {
  const groups = Object.values(s.byGroup)
  const sum = (pick: (g: (typeof groups)[number]) => number) => groups.reduce((n, g) => n + pick(g), 0)
  assert.equal(
    s.totalQueued,
    sum((g) => g.queued),
  )
  assert.equal(
    s.nonEmpty,
    sum((g) => g.nonEmpty),
  )
  assert.equal(
    s.mailboxes,
    sum((g) => g.mailboxes),
  )
  assert.equal(
    s.enqueued,
    sum((g) => g.enqueued),
  )
  assert.equal(
    s.dequeued,
    sum((g) => g.dequeued),
  )
  assert.equal(
    s.dropped.overflow,
    sum((g) => g.dropped.overflow),
  )
  assert.equal(
    s.dropped.expired,
    sum((g) => g.dropped.expired),
  )
  assert.equal(
    s.enqueued,
    s.dequeued + s.dropped.overflow + s.dropped.expired + s.totalQueued - observedQueued(s),
  )
}

let observedTotal = 0
function observedQueued(_s: RegistryStats): number {
  return observedTotal
}

test('stats(): totals, groups, non-empty count and the longest queue', () => {
  observedTotal = 0
  const r = new MailboxRegistry({ capacity: 100 })
  const boxes: Mailbox<number>[] = []
  for (let i = 0; i < 30; i++) {
    const mb = r.mailbox<number>(`session:${i}`, { group: i % 2 ? 'odd' : 'even', capacity: 20 })
    for (let k = 0; k < i % 10; k++) mb.push(k)
    boxes.push(mb)
  }
  boxes[7]!.push(99)
  const s = r.stats()
  assert.equal(s.mailboxes, 30)
  assert.equal(s.totalQueued, 3 * 45 + 1)
  assert.equal(s.nonEmpty, 27)
  assert.deepEqual(s.longest, { name: 'session:9', group: 'odd', length: 9 })
  assert.deepEqual(Object.keys(s.byGroup).sort(), ['even', 'odd'])
  assert.equal(s.byGroup['odd']!.longest, 9)
  assert.equal(s.byGroup['even']!.longest, 8)
  assert.equal(s.overflowNames, 0)
  assertTotals(s)
})

test('top(n): longest first, with counters and age, across names', () => {
  observedTotal = 0
  const r = new MailboxRegistry({ capacity: 50 })
  for (let i = 0; i < 20; i++) {
    const mb = r.mailbox<number>(`m${i}`, { group: 'g' })
    for (let k = 0; k < (i * 7) % 13; k++) mb.push(k)
  }
  const top = r.top(3)
  assert.deepEqual(
    top.map((t) => [t.name, t.length]),
    [
      ['m11', 12],
      ['m9', 11],
      ['m7', 10],
    ],
  )
  assert.equal(top[0]!.enqueued, 12)
  assert.equal(top[0]!.group, 'g')
  assert.ok(top[0]!.oldestAgeMs >= 0)
  assert.deepEqual(r.top(0), [])
  assert.equal(r.top(100).length, 18)
  assert.throws(() => r.top(-1), InvalidOptionError)
})

test('snapshot(n): the same stats and top rows as the two calls, from one pass', () => {
  const r = new MailboxRegistry({ capacity: 100 })
  for (let i = 0; i < 60; i++) {
    const mb = r.mailbox<number>(`s${i}`, { group: `g${i % 3}`, capacity: 8, overflow: 'drop-oldest' })
    for (let k = 0; k < (i * 5) % 11; k++) mb.push(k)
    if (i % 4 === 0) mb.shift()
  }
  const { stats, top } = r.snapshot(7)
  assert.deepEqual(stats, r.stats())
  const strip = (rows: typeof top) => rows.map(({ oldestAgeMs: _, ...row }) => row)
  assert.deepEqual(strip(top), strip(r.top(7)))
  assert.equal(top.length, 7)
  assert.ok(top.every((row, i) => i === 0 || row.length <= top[i - 1]!.length))
  assert.deepEqual(r.snapshot(0).top, [])
  assert.throws(() => r.snapshot(1.5), InvalidOptionError)
})

test('closed mailboxes free their slot and their counts move to the group', () => {
  observedTotal = 0
  const r = new MailboxRegistry({ capacity: 4 })
  for (let round = 0; round < 50; round++) {
    const boxes = [0, 1, 2, 3].map((i) =>
      r.mailbox<number>(`s${round}:${i}`, { group: 'sessions', capacity: 2 }),
    )
    for (const mb of boxes) {
      mb.push(1)
      mb.push(2)
      mb.push(3)
      mb.shift()
    }
    for (const mb of boxes) {
      mb.close()
      mb.drain()
      assert.equal(mb.groupOnly, false)
    }
  }
  const s = r.stats()
  assert.equal(s.mailboxes, 0)
  assert.equal(s.overflowNamesTotal, 0)
  const g = s.byGroup['sessions']!
  assert.equal(g.enqueued, 50 * 4 * 2)
  assert.equal(g.rejected, 50 * 4)
  assert.equal(g.dequeued, 50 * 4 * 2)
  assertTotals(s)
})

test('registrations beyond capacity degrade to group-only accounting, never a crash', () => {
  observedTotal = 0
  const r = new MailboxRegistry({ capacity: 3 })
  const boxes = Array.from({ length: 10 }, (_, i) =>
    r.mailbox<number>(`m${i}`, { group: i < 3 ? 'named' : 'crowd', capacity: 5 }),
  )
  assert.deepEqual(
    boxes.map((b) => b.groupOnly),
    [false, false, false, true, true, true, true, true, true, true],
  )
  for (const mb of boxes) for (let k = 0; k < 7; k++) mb.push(k)
  boxes[5]!.shift()
  let s = r.stats()
  assert.equal(s.overflowNames, 7)
  assert.equal(s.mailboxes, 10)
  assert.equal(s.byGroup['crowd']!.queued, 7 * 5 - 1)
  assert.equal(s.byGroup['crowd']!.rejected, 7 * 2)
  assert.equal(s.byGroup['crowd']!.nonEmpty, 7)
  assert.equal(s.totalQueued, 10 * 5 - 1)
  assertTotals(s)
  // top() only names queues with a slot.
  assert.ok(r.top(20).every((t) => t.group === 'named'))
  for (const mb of boxes) {
    mb.close()
    mb.drain()
  }
  s = r.stats()
  assert.equal(s.overflowNames, 0)
  assert.equal(s.overflowNamesTotal, 7)
  assert.equal(s.mailboxes, 0)
  assert.equal(s.byGroup['crowd']!.queued, 0)
  assert.equal(s.byGroup['crowd']!.nonEmpty, 0)
  assertTotals(s)
  // A freed slot is named again.
  assert.equal(r.mailbox('again').groupOnly, false)
})

test("groups beyond maxGroups are counted under '_other'", () => {
  observedTotal = 0
  const r = new MailboxRegistry({ capacity: 10, maxGroups: 3 })
  const boxes = ['a', 'b', 'c', 'd'].map((g) => r.mailbox<number>(`m-${g}`, { group: g }))
  for (const mb of boxes) mb.push(1)
  const s = r.stats()
  assert.deepEqual(Object.keys(s.byGroup).sort(), ['_other', 'a', 'b'])
  assert.equal(s.byGroup['_other']!.queued, 2)
  assert.equal(boxes[3]!.group, 'd')
})

test('names longer than nameBytes are cut at a character boundary in shared views only', () => {
  observedTotal = 0
  const r = new MailboxRegistry({ capacity: 4, nameBytes: 8 })
  const name = 'ééééé-long-name'
  const mb = r.mailbox<number>(name)
  mb.push(1)
  assert.equal(mb.name, name)
  assert.equal(r.top(1)[0]!.name, 'éééé…')
  assert.equal(r.stats().longest!.name, 'éééé…')
  assert.equal(r.bytesPerSlot, 64 + 16 + 8)
})

test('observe(): sampled now and on a timer, visible in stats and top, throwing sampler reported once', async () => {
  const r = new MailboxRegistry({ capacity: 4, observeIntervalMs: 10 })
  const warnings: Error[] = []
  const onWarning = (w: Error) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    let pending = 5
    let fail = false
    const obs = r.observe(
      'socket:client',
      () => {
        if (fail) throw new Error('sampler broke')
        return pending
      },
      { group: 'sockets' },
    )
    assert.equal(r.stats().byGroup['sockets']!.queued, 5)
    pending = 42
    await sleep(60)
    let s = r.stats()
    assert.equal(s.byGroup['sockets']!.queued, 42)
    assert.equal(s.observed, 1)
    assert.deepEqual(s.longest, { name: 'socket:client', group: 'sockets', length: 42 })
    const [row] = r.top(1)
    assert.equal(row!.name, 'socket:client')
    assert.equal(row!.enqueued, 0)
    assert.equal(row!.peak, 42)
    assert.equal(row!.observed, true)
    const mb = r.mailbox<number>('jobs', { group: 'jobs' })
    mb.push(1)
    assert.equal(r.top(2).find((m) => m.name === 'jobs')!.observed, false)
    assert.equal(mb.stats().observed, false)
    mb.close()
    mb.shift()
    fail = true
    await sleep(60)
    assert.equal(r.stats().byGroup['sockets']!.queued, 42, 'keeps the last good value')
    assert.equal(warnings.filter((w) => /sampler threw/.test(w.message)).length, 1)
    obs.close()
    s = r.stats()
    assert.equal(s.observed, 0)
    assert.equal(s.totalQueued, 0)
  } finally {
    process.off('warning', onWarning)
  }
})

test('observe() beyond capacity is counted in its group', () => {
  const r = new MailboxRegistry({ capacity: 1 })
  r.mailbox('taken')
  const obs = r.observe('pool', () => 9, { group: 'pools' })
  assert.equal(r.stats().byGroup['pools']!.queued, 9)
  assert.equal(r.stats().overflowNames, 1)
  obs.close()
  assert.equal(r.stats().byGroup['pools'], undefined)
  assert.throws(() => r.observe('x', 'nope' as never), InvalidOptionError)
})

test('attach() validates the handle', () => {
  const r = new MailboxRegistry({ capacity: 4 })
  const again = MailboxRegistry.attach(r.handle)
  again.mailbox('from-attached').push(1)
  assert.equal(r.stats().totalQueued, 1)
  assert.throws(() => MailboxRegistry.attach({} as never), InvalidHandleError)
  assert.throws(() => MailboxRegistry.attach({ ...r.handle, version: 99 }), InvalidHandleError)
  assert.throws(
    () => MailboxRegistry.attach({ ...r.handle, buffer: new SharedArrayBuffer(64) }),
    InvalidHandleError,
  )
  assert.throws(
    () => MailboxRegistry.attach({ kind: 'beamline.semaphore', version: 1 } as never),
    InvalidHandleError,
  )
})

test('a scan frees the folded slots no scan can need any more, and they are claimed again', () => {
  const r = new MailboxRegistry({ capacity: 8 })
  const i32 = new Int32Array(r.handle.buffer)
  const states = () => Array.from({ length: 8 }, (_, i) => i32[slotIndex(i) + STATE]!)
  const boxes = Array.from({ length: 8 }, (_, i) => r.mailbox<number>(`m${i}`, { group: 'g' }))
  for (const mb of boxes) mb.push(1)
  for (const mb of boxes) {
    mb.drain()
    mb.close()
  }
  assert.ok(
    states().every((s) => s >= RETIRED),
    'folded slots keep their counters',
  )
  // The first scan began after every fold: none of them can be needed by it or any later scan.
  assert.equal(r.stats().byGroup['g']!.enqueued, 8)
  assert.deepEqual(states(), Array(8).fill(FREE))
  assert.equal(r.stats().byGroup['g']!.enqueued, 8)
  const again = Array.from({ length: 8 }, (_, i) => r.mailbox(`again-${i}`, { group: 'g' }))
  assert.ok(again.every((mb) => !mb.groupOnly))
  assert.equal(r.stats().mailboxes, 8)
})

test('regression: a scan racing group-only registrations reports more non-empty queues than queues (stress test: nonEmpty 16, mailboxes 13)', () => {
  const r = new MailboxRegistry({ capacity: 1 })
  r.mailbox('named', { group: 'crowd' })
  const unnamed = r.mailbox<number>('unnamed', { group: 'crowd' })
  unnamed.push(1)
  assert.ok(unnamed.groupOnly)
  // What a scan reads when the owner joins two more registrations and pushes into them between its
  // load of the aggregate's registrations and its load of their non-empty count (the aggregate slot
  // is the first one after the named slots).
  const i32 = new Int32Array(r.handle.buffer)
  const aggregate = slotIndex(r.capacity)
  assert.equal(i32[aggregate + AGG_MAILBOXES], 1)
  i32[aggregate + AGG_NONEMPTY] = 3
  const crowd = r.stats().byGroup['crowd']!
  assert.ok(crowd.nonEmpty <= crowd.mailboxes, JSON.stringify(crowd))
  i32[aggregate + AGG_NONEMPTY] = 1
})
