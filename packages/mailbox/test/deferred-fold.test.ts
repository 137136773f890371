/**
 * Invariant: a slot its owner let go (a mailbox closed and drained, an observation closed, a thread's
 * last group-only registration of a group gone) or whose thread died is not live in any stats() taken
 * after that, even while its fold waits for its group's fold lock: `mailboxes`, `queued`, `nonEmpty`
 * and `overflowNames` leave it at once, its counters are counted exactly once before, during and
 * after the deferred fold, and a dead thread's items are in `dropped.abandoned` from then on.
 *
 * The fold lock is held by writing a stand-in holder into the shared buffer: deterministic, where the
 * stress test only met this when a holder was descheduled mid-fold on a loaded machine.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { MailboxRegistry, type RegistryStats } from '../src/index.js'
import { FOLD_OWNER, PUBLISHED } from '../src/layout.js'
import { SlotTable } from '../src/table.js'

/** A threadId + 1 no thread has: a holder nobody reclaims, so the lock stays taken until released. */
const STAND_IN = 0x7fff_fff0

/** Takes group `group`'s fold lock for a stand-in; returns what releases it and reads its version. */
function holdFoldLock(registry: MailboxRegistry, group: string) {
  const table = new SlotTable(registry.handle.buffer)
  const gi = table.groupIndex(table.groupId(group))
  assert.equal(Atomics.compareExchange(table.i32, gi + FOLD_OWNER, 0, STAND_IN), 0)
  return {
    release: () => Atomics.store(table.i32, gi + FOLD_OWNER, 0),
    published: () => Atomics.load(table.i32, gi + PUBLISHED),
  }
}

async function until(what: string, done: () => boolean): Promise<void> {
  for (let waited = 0; !done(); waited++) {
    assert.ok(waited < 1000, what)
    await sleep(10)
  }
}

function pick(s: RegistryStats, group: string) {
  const g = s.byGroup[group]!
  return {
    mailboxes: g.mailboxes,
    queued: g.queued,
    nonEmpty: g.nonEmpty,
    enqueued: g.enqueued,
    dequeued: g.dequeued,
    abandoned: g.dropped.abandoned,
    overflowNames: s.overflowNames,
  }
}

test('regression: a mailbox whose fold is deferred (its group fold lock taken) stays counted as live (stress test: live 16, expected 10)', async () => {
  // Capacity 2: one named mailbox, one named observation, then group-only mailboxes in an aggregate.
  const registry = new MailboxRegistry({ capacity: 2 })
  const named = registry.mailbox<number>('named', { group: 'g' })
  let sampled = 5
  const observed = registry.observe('observed', () => sampled, { group: 'g' })
  const groupOnly = [registry.mailbox<number>('unnamed-1', { group: 'g' })]
  groupOnly.push(registry.mailbox<number>('unnamed-2', { group: 'g' }))
  assert.ok(groupOnly.every((mb) => mb.groupOnly) && !named.groupOnly)
  for (const mb of [named, ...groupOnly]) {
    mb.push(1)
    mb.push(2)
  }
  assert.deepEqual(pick(registry.stats(), 'g'), {
    mailboxes: 4,
    queued: 11,
    nonEmpty: 4,
    enqueued: 6,
    dequeued: 0,
    abandoned: 0,
    overflowNames: 2,
  })

  const lock = holdFoldLock(registry, 'g')
  const version = lock.published()
  for (const mb of [named, ...groupOnly]) {
    mb.drain()
    mb.close()
  }
  sampled = 0
  observed.close()
  const closed = {
    mailboxes: 0,
    queued: 0,
    nonEmpty: 0,
    enqueued: 6,
    dequeued: 6,
    abandoned: 0,
    overflowNames: 0,
  }
  assert.deepEqual(pick(registry.stats(), 'g'), closed, 'closed while the folds wait for the lock')
  assert.equal(lock.published(), version, 'the folds were deferred')
  assert.equal(registry.top(5).length, 0)

  lock.release()
  // Three folds: the named mailbox, the observation, the aggregate of the two group-only mailboxes.
  await until('the deferred folds never ran', () => lock.published() === version + 3)
  assert.deepEqual(pick(registry.stats(), 'g'), closed, 'once folded: the same counts, once')
  // Every slot came back.
  assert.ok(!registry.mailbox('again-1').groupOnly && !registry.mailbox('again-2').groupOnly)
})

test('regression: a dead thread whose reclaim is deferred (its group fold lock taken) stays counted as live', async () => {
  const registry = new MailboxRegistry({ capacity: 1 })
  const worker = new Worker(new URL('./fixtures/dying-worker.js', import.meta.url), {
    // Two mailboxes: one named, one group-only (the capacity is 1).
    workerData: { handle: registry.handle, mode: 'fill', group: 'jobs', boxes: 2, items: 20, death: 'hang' },
  })
  await once(worker, 'message')
  assert.deepEqual(pick(registry.stats(), 'jobs'), {
    mailboxes: 2,
    queued: 40,
    nonEmpty: 2,
    enqueued: 40,
    dequeued: 0,
    abandoned: 0,
    overflowNames: 1,
  })
  const lock = holdFoldLock(registry, 'jobs')
  const version = lock.published()
  await Promise.all([
    new Promise((resolve) => worker.once('exit', () => setImmediate(resolve))),
    worker.terminate(),
  ])
  const reclaimed = {
    mailboxes: 0,
    queued: 0,
    nonEmpty: 0,
    enqueued: 40,
    dequeued: 0,
    abandoned: 40,
    overflowNames: 0,
  }
  assert.deepEqual(pick(registry.stats(), 'jobs'), reclaimed, 'reclaimed while the folds wait for the lock')
  assert.equal(lock.published(), version, 'the folds were deferred')

  lock.release()
  await until('the deferred folds never ran', () => lock.published() === version + 2)
  assert.deepEqual(pick(registry.stats(), 'jobs'), reclaimed, 'once folded: abandoned once')
})
