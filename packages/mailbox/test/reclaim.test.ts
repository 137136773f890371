/**
 * Invariant: once a thread that used the registry has exited (returned, thrown, or been terminated at
 * any point), and the thread that created it has heard of it, nothing of it is live: its mailboxes,
 * observed queues and group-only registrations are not counted in mailboxes, queued, nonEmpty,
 * longest or overflowNames; the items it left queued are counted once in dropped.abandoned; its
 * counters stay in its groups; and enqueued = dequeued + dropped.overflow + dropped.expired +
 * dropped.abandoned + queued keeps holding. Reclaiming is exactly once however many threads hear of
 * the exit, and readers scanning meanwhile see every counter monotonic.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { MailboxRegistry, type RegistryStats } from '../src/index.js'
import {
  COUNTERS,
  FOLD_FOR,
  FOLD_OWNER,
  FOLD_SLOT,
  GROUP,
  GROUP_BYTES,
  GROUP_LOCK,
  MAILBOX,
  OWNER,
  PUBLISHED,
  R_OWNER,
  READERS,
  regions,
  SCANNERS,
  STARTED,
  STATE,
  slotIndex,
  TOTALS,
  writeTotal,
} from '../src/layout.js'
import { GO, READY, STOP } from './fixtures/churn-flags.js'
import { MonotonicCheck } from './fixtures/monotonic.js'

const dying = new URL('./fixtures/dying-worker.js', import.meta.url)

function spawn(registry: MailboxRegistry, data: object): Worker {
  const worker = new Worker(dying, { workerData: { handle: registry.handle, ...data } })
  worker.on('error', () => {})
  return worker
}

/** Resolves once the worker has exited and every 'exit' listener (the registry's reclaim) has run. */
function gone(worker: Worker): Promise<number> {
  return new Promise((resolve) => worker.once('exit', (code) => setImmediate(() => resolve(code))))
}

function assertIdentity(s: RegistryStats): void {
  for (const [name, g] of Object.entries(s.byGroup)) {
    assert.equal(
      g.enqueued,
      g.dequeued + g.dropped.overflow + g.dropped.expired + g.dropped.abandoned + g.queued,
      `group ${name}: ${JSON.stringify(g)}`,
    )
  }
}

test('regression: a worker that dies leaves its mailboxes counted forever (issue 15 #2)', async () => {
  const registry = new MailboxRegistry({ capacity: 100 })
  const worker = spawn(registry, { mode: 'fill', items: 5000, death: 'throw' })
  assert.equal(await gone(worker), 1)
  const s = registry.stats()
  assert.equal(s.totalQueued, 0)
  assert.equal(s.longest, null)
  assert.equal(s.mailboxes, 0)
  assert.equal(s.dropped.abandoned, 5000)
  assert.deepEqual(
    { ...s.byGroup['jobs'], dropped: { ...s.byGroup['jobs']!.dropped } },
    {
      queued: 0,
      nonEmpty: 0,
      longest: 0,
      mailboxes: 0,
      enqueued: 5000,
      dequeued: 0,
      rejected: 0,
      dropped: { overflow: 0, expired: 0, abandoned: 5000 },
    },
  )
  assert.deepEqual(registry.top(5), [])
  assertIdentity(s)
})

test('issue 15 #2: a terminated worker is reclaimed, group-only registrations included', async () => {
  const registry = new MailboxRegistry({ capacity: 2 })
  const mine = registry.mailbox<number>('main:keeps', { group: 'main' })
  mine.push(1)
  // One slot left: the worker's first mailbox gets it, the other two are counted group-only.
  const worker = spawn(registry, { mode: 'fill', boxes: 3, items: 700, death: 'hang' })
  await once(worker, 'message')
  let s = registry.stats()
  assert.equal(s.totalQueued, 2101)
  assert.equal(s.overflowNames, 2)
  assert.equal(s.byGroup['jobs']!.nonEmpty, 3)
  await Promise.all([gone(worker), worker.terminate()])
  s = registry.stats()
  assert.equal(s.totalQueued, 1)
  assert.equal(s.mailboxes, 1)
  assert.equal(s.overflowNames, 0)
  assert.equal(s.overflowNamesTotal, 2)
  assert.deepEqual(s.longest, { name: 'main:keeps', group: 'main', length: 1 })
  assert.equal(s.byGroup['jobs']!.dropped.abandoned, 2100)
  assert.equal(s.byGroup['jobs']!.nonEmpty, 0)
  assert.equal(s.byGroup['jobs']!.mailboxes, 0)
  assertIdentity(s)
  // Its slot is free again.
  assert.equal(registry.mailbox('main:again').groupOnly, false)
})

test('issue 15 #2: a worker killed mid-push loop leaves exact, final counters', async () => {
  const registry = new MailboxRegistry({ capacity: 16 })
  for (let round = 0; round < 4; round++) {
    const worker = spawn(registry, { mode: 'push-forever' })
    await once(worker, 'message')
    // Wherever it is in its loop: between a counter's store and the next, or mid-push.
    await sleep(round * 3)
    await Promise.all([gone(worker), worker.terminate()])
    const s = registry.stats()
    assert.equal(s.totalQueued, 0)
    assert.equal(s.mailboxes, 0)
    const loop = s.byGroup['loop']!
    assert.ok(
      loop.rejected > 0 && loop.dropped.overflow > 0 && loop.dropped.abandoned > 0,
      JSON.stringify(loop),
    )
    assertIdentity(s)
  }
})

test('issue 15 #2: observed queues of a dead worker stop counting', async () => {
  // One slot: the first observation gets it, the second is counted group-only.
  const registry = new MailboxRegistry({ capacity: 1 })
  const worker = spawn(registry, { mode: 'observe', group: 'sockets', boxes: 2, items: 700 })
  await once(worker, 'message')
  let s = registry.stats()
  assert.equal(s.byGroup['sockets']!.queued, 1400)
  assert.equal(s.observed, 1)
  await Promise.all([gone(worker), worker.terminate()])
  s = registry.stats()
  assert.equal(s.observed, 0)
  assert.equal(s.totalQueued, 0)
  assert.equal(s.mailboxes, 0)
  assert.equal(s.overflowNames, 0)
  assert.equal(s.byGroup['sockets'], undefined, 'no live queue and no count left in the group')
  assert.equal(s.dropped.abandoned, 0, 'observed queues are not ours: nothing of them is dropped')
})

test('issue 15 #2: several threads hearing of the same exit reclaim it once', async () => {
  const registry = new MailboxRegistry({ capacity: 150 })
  // A second registry object in this thread hears the exit too, and two other threads are told of it.
  const again = MailboxRegistry.attach(registry.handle)
  const flags = new Int32Array(new SharedArrayBuffer(4))
  const helpers = [0, 1].map(() => spawn(registry, { mode: 'watch-proxy', flags }))
  const all = (message: object | string) =>
    Promise.all(
      helpers.map((h) => {
        const reply = once(h, 'message')
        if (typeof message === 'object') h.postMessage(message)
        return reply
      }),
    )
  for (let round = 1; round <= 3; round++) {
    const before = registry.stats().dropped.abandoned
    // 200 mailboxes of 25 items: 150 named, the rest in an aggregate slot.
    const worker = spawn(registry, { mode: 'fill', boxes: 200, items: 25, death: 'throw-on-message' })
    const filled = once(worker, 'message')
    // Registered before the registries' own listeners: the helpers start when this thread does.
    worker.once('exit', () => {
      Atomics.store(flags, 0, round)
      Atomics.notify(flags, 0)
    })
    again.watch(worker)
    registry.watch(worker)
    await all({ threadId: worker.threadId })
    await all({ round })
    const reclaimed = all('reclaimed')
    await filled
    worker.postMessage('die')
    await Promise.all([gone(worker), reclaimed])
    const s = registry.stats()
    assert.equal(s.dropped.abandoned - before, 200 * 25)
    assert.equal(s.totalQueued, 0)
    assert.equal(s.mailboxes, 0)
    assert.equal(s.overflowNames, 0)
    assertIdentity(s)
  }
  await Promise.all(helpers.map((h) => h.terminate()))
})

test('issue 15 #2: reclaims racing scanning threads keep every counter monotonic and exact', async () => {
  const registry = new MailboxRegistry({ capacity: 3000 })
  const idle = Array.from({ length: 2000 }, (_, i) => registry.mailbox(`idle-${i}`, { group: 'idle' }))
  const flags = new Int32Array(new SharedArrayBuffer(12))
  Atomics.store(flags, GO, 1)
  const reader = new Worker(new URL('./fixtures/churn-worker.js', import.meta.url), {
    workerData: { handle: registry.handle, role: 'reader', count: 0, perBusy: 0, seed: 1, flags },
  })
  const fromReader = once(reader, 'message')
  while (Atomics.load(flags, READY) < 1) await sleep(1)
  const check = new MonotonicCheck()
  let dying = 0
  const deaths = (async () => {
    for (let n = 0; n < 8; n++) {
      const death = n % 2 ? 'hang' : 'throw-on-message'
      // 1200 mailboxes: beyond the 1000 free slots, so aggregate slots are reclaimed too.
      const worker = spawn(registry, { mode: 'fill', group: `dead-${n % 3}`, boxes: 1200, items: 3, death })
      await once(worker, 'message')
      const exit = gone(worker)
      if (death === 'hang') void worker.terminate()
      else worker.postMessage('die')
      await exit
      dying++
    }
  })()
  while (dying < 8) {
    check.observe(check.scans % 2 ? registry.stats() : registry.snapshot(3).stats)
    await new Promise((resolve) => setImmediate(resolve))
  }
  await deaths
  Atomics.store(flags, STOP, 1)
  const [report] = (await fromReader) as [ReturnType<MonotonicCheck['report']>]
  const s = registry.stats()
  check.observe(s)
  assert.deepEqual(
    { main: check.decreases, reader: report.decreases },
    { main: 0, reader: 0 },
    [...check.examples, ...report.examples].join('; '),
  )
  assert.ok(report.scans > 0)
  assert.equal(s.dropped.abandoned, 8 * 1200 * 3)
  assert.equal(s.totalQueued, 0)
  assert.equal(s.mailboxes, idle.length)
  assert.equal(s.overflowNames, 0)
  assertIdentity(s)
})

test('issue 15 #2: a thread that dies in the middle of a scan does not hold back slot reuse', async () => {
  const registry = new MailboxRegistry({ capacity: 2000 })
  const boxes = Array.from({ length: registry.capacity }, (_, i) =>
    registry.mailbox(`m${i}`, { group: 'all' }),
  )
  const i32 = new Int32Array(registry.handle.buffer)
  let scanning = 0
  for (let attempt = 0; scanning === 0 && attempt < 20; attempt++) {
    const worker = spawn(registry, { mode: 'scan-forever' })
    // Before the registry's own exit listener (added on the next tick), which reclaims the word.
    worker.once('exit', () => (scanning = Atomics.load(i32, SCANNERS)))
    await once(worker, 'message')
    await Promise.all([gone(worker), worker.terminate()])
  }
  assert.equal(scanning, 1, 'a scanner terminated in the middle of its scan')
  const { readers } = regions(registry.capacity, 256, 64)
  const owners = Array.from({ length: READERS }, (_, r) =>
    Atomics.load(i32, (readers >> 2) + 2 * r + R_OWNER),
  )
  assert.deepEqual(new Set(owners), new Set([0]), 'its reader word was given back')
  // 0, or 1 when it died in the few instructions between SCANNERS and R_SINCE (the count's documented,
  // harmless over-count: claimers then read every word, all free). Seen once in CI as `1 !== 0`.
  assert.ok(Atomics.load(i32, SCANNERS) <= 1, 'SCANNERS over-counts by one at most')
  // A slot folded after that scan began can be claimed again.
  boxes[7]!.close()
  assert.equal(registry.mailbox('next').groupOnly, false)
})

test('issue 15 #2: locks a dead thread held mid-fold or mid-group-creation are never waited for, and its reclaim finishes the fold', async () => {
  const registry = new MailboxRegistry({ capacity: 8 })
  const worker = spawn(registry, { mode: 'fill', items: 40, death: 'hang' })
  await once(worker, 'message')
  const owner = worker.threadId + 1
  const i32 = new Int32Array(registry.handle.buffer)
  const { meta, groups } = regions(registry.capacity, 256, 64)
  const slot = [...Array(registry.capacity).keys()].find(
    (i) => i32[(meta >> 2) + 4 * i + OWNER] === owner && i32[slotIndex(i) + STATE] === MAILBOX,
  )!
  const g = i32[slotIndex(slot) + GROUP]!
  const gi = (groups + g * GROUP_BYTES) >> 2
  const version = i32[gi + PUBLISHED]!
  // As if the worker had died in step 2 of folding its slot, and in the middle of creating a group.
  Atomics.store(i32, gi + FOLD_OWNER, owner)
  Atomics.store(i32, gi + FOLD_SLOT, slot)
  Atomics.store(i32, gi + FOLD_FOR, owner)
  Atomics.store(i32, gi + STARTED, version + 1)
  writeTotal(i32, gi + TOTALS + ((version + 1) & 1) * 2 * COUNTERS, 123_456_789)
  Atomics.store(i32, GROUP_LOCK, owner)
  // A close in this thread meanwhile finds the group's lock taken: its fold waits, nothing is lost.
  const mine = registry.mailbox<number>('main:jobs', { group: 'jobs' })
  mine.push(1)
  mine.push(2)
  mine.drain()
  mine.close()
  let s = registry.stats()
  assert.deepEqual(
    [s.byGroup['jobs']!.enqueued, s.byGroup['jobs']!.dequeued, s.byGroup['jobs']!.mailboxes],
    [42, 2, 1],
    'the half-written buffer is not read; the deferred mailbox is counted once, and no longer as live',
  )
  // Creating a group meanwhile does not wait for the dead holder for ever (its reclaim needs this
  // thread): after a bounded wait the mailbox is counted under '_other'.
  const warnings: string[] = []
  const onWarning = (w: Error) => warnings.push(w.message)
  process.on('warning', onWarning)
  const stuck = registry.mailbox('stuck', { group: 'created-meanwhile' })
  await new Promise((resolve) => setImmediate(resolve))
  process.off('warning', onWarning)
  assert.equal(registry.stats().byGroup['_other']!.mailboxes, 1)
  assert.ok(warnings.some((w) => w.includes('group lock')))
  stuck.close()
  await Promise.all([gone(worker), worker.terminate()])
  assert.equal(Atomics.load(i32, GROUP_LOCK), 0)
  assert.equal(registry.mailbox('other', { group: 'created-after' }).group, 'created-after')
  for (let waited = 0; Atomics.load(i32, gi + PUBLISHED) !== version + 2; waited++) {
    assert.ok(waited < 1000, 'the deferred fold never ran')
    await sleep(10)
  }
  s = registry.stats()
  const jobs = s.byGroup['jobs']!
  assert.deepEqual([jobs.enqueued, jobs.dequeued, jobs.dropped.abandoned, jobs.queued], [42, 2, 40, 0])
  assert.equal(Atomics.load(i32, gi + FOLD_OWNER), 0)
  assert.equal(Atomics.load(i32, gi + PUBLISHED), version + 2)
  assertIdentity(s)
})
