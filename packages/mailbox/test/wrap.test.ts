/**
 * Invariant: every count stats() exports that grows without bound reads right past 2^31, 2^32 and up to
 * 2^53 (where a Number stops being exact), and the Int32 sequences of the fold protocol (group
 * versions, scan epochs) wrap without breaking exactly-once counting. Each is forced near its wrap
 * point by writing the shared buffer directly.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MailboxRegistry } from '../src/index.js'
import {
  COUNTERS,
  DEQUEUED,
  ENQUEUED,
  GROUP_BYTES,
  PUBLISHED,
  R_OWNER,
  R_SINCE,
  regions,
  SCAN_EPOCH,
  SCANNERS,
  STARTED,
  slotIndex,
  TOTALS,
  UNNAMED_TOTAL,
  UNSLOTTED,
  writeTotal,
} from '../src/layout.js'
import { graceOver } from '../src/scan.js'
import { SlotTable } from '../src/table.js'
import { MonotonicCheck } from './fixtures/monotonic.js'

const MAX_GROUPS = 16

function views(registry: MailboxRegistry) {
  const { buffer } = registry.handle
  const { groups } = regions(registry.capacity, MAX_GROUPS, 64)
  return {
    i32: new Int32Array(buffer),
    f64: new Float64Array(buffer),
    big: new BigInt64Array(buffer),
    /** Int32 index of group `g` (ids in creation order: '_other' is 0). */
    group: (g: number) => (groups + g * GROUP_BYTES) >> 2,
  }
}

test('regression: Int32 ever-counters wrap negative (issue 15 #6)', () => {
  const registry = new MailboxRegistry({ capacity: 1, maxGroups: MAX_GROUPS })
  const { big } = views(registry)
  registry.mailbox('takes-the-only-slot')
  for (const start of [2n ** 31n - 2n, 2n ** 32n - 2n, 2n ** 53n - 5n]) {
    Atomics.store(big, UNNAMED_TOTAL, start)
    const crowd = [0, 1, 2].map((i) => registry.mailbox(`crowd-${i}`, { group: 'crowd' }))
    assert.ok(crowd.every((mb) => mb.groupOnly))
    const s = registry.stats()
    assert.equal(s.overflowNamesTotal, Number(start + 3n))
    assert.equal(s.overflowNames, 3)
    for (const mb of crowd) mb.close()
  }
})

test('issue 15 #6: mailbox counters, folded totals and group-only totals read past 2^32 up to 2^53', () => {
  const registry = new MailboxRegistry({ capacity: 1, maxGroups: MAX_GROUPS })
  const { i32, f64, big, group } = views(registry)
  // A mailbox's own counters (Float64 in its slot) past 2^32.
  const mb = registry.mailbox<number>('busy', { group: 'busy' })
  mb.push(1)
  const f = slotIndex(0) >> 1
  f64[f + ENQUEUED] = 2 ** 32 - 1
  f64[f + DEQUEUED] = 2 ** 32 - 2
  mb.push(2)
  mb.shift()
  let s = registry.stats()
  assert.equal(s.byGroup['busy']!.enqueued, 2 ** 32)
  assert.equal(s.byGroup['busy']!.dequeued, 2 ** 32 - 1)
  assert.equal(s.totalQueued, 1)
  // Folded into the group's totals (BigInt64) when it closes, then those pushed to near 2^53.
  mb.close()
  mb.drain()
  s = registry.stats()
  assert.equal(s.byGroup['busy']!.enqueued, 2 ** 32)
  assert.equal(s.byGroup['busy']!.dequeued, 2 ** 32)
  const busy = group(1)
  const version = Atomics.load(i32, busy + PUBLISHED)
  const totals = busy + TOTALS + (version & 1) * 2 * COUNTERS
  writeTotal(i32, totals + 2 * (ENQUEUED - ENQUEUED), 2 ** 53 - 4)
  writeTotal(i32, totals + 2 * (DEQUEUED - ENQUEUED), 2 ** 53 - 4)
  const next = registry.mailbox<number>('busy-2', { group: 'busy' })
  next.push(1)
  next.push(2)
  next.shift()
  s = registry.stats()
  assert.equal(s.byGroup['busy']!.enqueued, 2 ** 53 - 2)
  assert.equal(s.enqueued, 2 ** 53 - 2)
  next.close()
  next.drain()
  assert.equal(registry.stats().byGroup['busy']!.dequeued, 2 ** 53 - 2)
  // Counters of group-only registrations that found no aggregate slot either (UNSLOTTED, BigInt64).
  registry.mailbox('crowd', { group: 'crowd' }).close()
  Atomics.store(big, (group(2) >> 1) + UNSLOTTED, 2n ** 32n + 5n)
  assert.equal(registry.stats().byGroup['crowd']!.enqueued, 2 ** 32 + 5)
})

test('issue 15 #6: group versions and scan epochs wrap (at 2^31 and 2^32) without miscounting', () => {
  for (const start of [2 ** 31 - 3, -3]) {
    const registry = new MailboxRegistry({ capacity: 4, maxGroups: MAX_GROUPS })
    const { i32, group } = views(registry)
    const chat = registry.mailbox<number>('chat:0', { group: 'chat' })
    // No fold yet: both totals buffers are 0, so any version is consistent with them.
    Atomics.store(i32, group(1) + PUBLISHED, start)
    Atomics.store(i32, group(1) + STARTED, start)
    Atomics.store(i32, SCAN_EPOCH, start)
    const check = new MonotonicCheck()
    let expected = 0
    let mb = chat
    for (let round = 0; round < 8; round++) {
      for (let k = 0; k <= round; k++) mb.push(k)
      expected += round + 1
      mb.drain()
      check.observe(registry.stats())
      mb.close()
      check.observe(registry.snapshot(1).stats)
      assert.equal(registry.stats().byGroup['chat']!.enqueued, expected, `round ${round} from ${start}`)
      mb = registry.mailbox<number>(`chat:${round + 1}`, { group: 'chat' })
      assert.equal(mb.groupOnly, false, 'folded slots are reused across the epoch wrap')
    }
    assert.equal(check.decreases, 0, check.examples.join('; '))
    assert.equal(Atomics.load(i32, group(1) + PUBLISHED), (start + 8) | 0)
    assert.notEqual(Atomics.load(i32, SCAN_EPOCH), start)
  }
})

test('issue 15 #6: a scan blocks the reuse of slots folded after it began, across the epoch wrap', () => {
  const registry = new MailboxRegistry({ capacity: 4, maxGroups: MAX_GROUPS })
  const table = new SlotTable(registry.handle.buffer)
  const { i32 } = views(registry)
  const word = table.readerIndex(5)
  Atomics.store(i32, SCANNERS, 1)
  Atomics.store(i32, word + R_OWNER, 99)
  for (const [since, foldedAt, blocked] of [
    [2 ** 31 - 1, -(2 ** 31), true], // folded one epoch after the scan began, across 2^31
    [-1, 1, true], // across 2^32 (0 is never an epoch)
    [-(2 ** 31), 2 ** 31 - 1, false], // the scan began one epoch after the fold
    [1, -1, false],
    [7, 7, true], // the fold read the epoch the scan drew: it may have been published after (b)
  ] as const) {
    Atomics.store(i32, word + R_SINCE, since)
    assert.equal(graceOver(table, foldedAt), !blocked, `scan since ${since}, fold at ${foldedAt}`)
  }
  Atomics.store(i32, word + R_SINCE, 0)
  assert.equal(graceOver(table, 7), true, 'a word whose scan drew no epoch yet blocks nothing')
})
