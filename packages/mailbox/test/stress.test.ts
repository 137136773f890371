/**
 * Invariants under real worker threads sharing one registry:
 *  1. Per mailbox, whenever its thread is between operations:
 *       enqueued === dequeued + dropped.overflow + dropped.expired + length   (checked in each worker)
 *  2. Once the workers are quiescent, registry.stats() read from another thread equals, group by group
 *     and in total, the sum over every thread of its mailboxes' own stats(), closed mailboxes included
 *     (their slots were retired and reused by other threads, some registrations found no slot and were
 *     counted group-only): enqueued, dequeued, rejected, dropped, queued and live mailboxes.
 *  3. While the workers run, every stats() a reader takes is internally consistent: totals equal the
 *     sum of the groups and no gauge is negative.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { MailboxRegistry, type RegistryStats } from '../src/index.js'
import { type GroupTotals, zeroTotals } from './fixtures/totals.js'

const THREADS = 4
const ROUNDS = 3000
const GROUPS = ['push', 'sessions', 'undici', 'jobs', 'misc']

function checkConsistent(s: RegistryStats): void {
  const groups = Object.values(s.byGroup)
  for (const g of groups) {
    assert.ok(g.queued >= 0 && g.nonEmpty >= 0 && g.mailboxes >= 0 && g.longest >= 0, JSON.stringify(g))
    assert.ok(g.nonEmpty <= g.mailboxes, JSON.stringify(g))
  }
  assert.equal(
    s.totalQueued,
    groups.reduce((n, g) => n + g.queued, 0),
  )
  assert.equal(
    s.enqueued,
    groups.reduce((n, g) => n + g.enqueued, 0),
  )
  assert.equal(
    s.mailboxes,
    groups.reduce((n, g) => n + g.mailboxes, 0),
  )
  assert.ok(s.overflowNames >= 0 && s.overflowNames <= s.overflowNamesTotal)
}

test(`accounting is exact across ${THREADS} worker threads with slot churn and group-only overflow`, async () => {
  // Small capacity on purpose: threads compete for slots, reuse each other's retired slots, and spill
  // into group-only accounting.
  const registry = new MailboxRegistry({ capacity: 40 })
  const workers = Array.from(
    { length: THREADS },
    (_, i) =>
      new Worker(new URL('./fixtures/stress-worker.js', import.meta.url), {
        workerData: { handle: registry.handle, seed: 1234 + i * 7919, rounds: ROUNDS, groups: GROUPS },
      }),
  )
  const results = workers.map(
    (w) => once(w, 'message') as Promise<[{ totals: Record<string, GroupTotals>; groupOnlySeen: number }]>,
  )
  // Not once(): it rejects on 'error', and a failed worker must still end the reading loop below.
  const exits = workers.map((w) => new Promise<number>((resolve) => w.once('exit', resolve)))
  let running = true
  let reads = 0
  void Promise.all(exits).then(() => (running = false))
  while (running) {
    checkConsistent(registry.stats())
    registry.top(5)
    reads++
    await new Promise((resolve) => setImmediate(resolve))
  }
  const reports = (await Promise.all(results)).map(([m]) => m)
  assert.deepEqual(
    await Promise.all(exits),
    workers.map(() => 0),
  )
  assert.ok(reads > 0)
  assert.ok(
    reports.some((r) => r.groupOnlySeen > 0),
    'the scenario should exercise group-only accounting',
  )

  const expected: Record<string, GroupTotals> = {}
  for (const report of reports) {
    for (const [group, t] of Object.entries(report.totals)) {
      const e = (expected[group] ??= zeroTotals())
      for (const key of Object.keys(t) as (keyof GroupTotals)[]) e[key] += t[key]
    }
  }
  const s = registry.stats()
  checkConsistent(s)
  for (const group of GROUPS) {
    const got = s.byGroup[group]
    const want = expected[group]
    if (want === undefined) {
      assert.equal(got, undefined)
      continue
    }
    assert.ok(got, `group ${group} missing`)
    assert.deepEqual(
      {
        queued: got.queued,
        enqueued: got.enqueued,
        dequeued: got.dequeued,
        rejected: got.rejected,
        overflow: got.dropped.overflow,
        expired: got.dropped.expired,
        live: got.mailboxes,
      },
      want,
      `group ${group}`,
    )
    assert.equal(got.enqueued, got.dequeued + got.dropped.overflow + got.dropped.expired + got.queued)
  }
  const sum = (key: keyof GroupTotals) => Object.values(expected).reduce((n, t) => n + t[key], 0)
  assert.equal(s.enqueued, sum('enqueued'))
  assert.equal(s.totalQueued, sum('queued'))
  assert.equal(s.mailboxes, sum('live'))
  assert.ok(sum('enqueued') > THREADS * ROUNDS * 50, 'enough traffic to mean something')
})

test('names, observed queues and ages written in a worker are read correctly in another thread', async () => {
  const registry = new MailboxRegistry({ capacity: 16, observeIntervalMs: 10 })
  const worker = new Worker(
    `
    const { workerData, parentPort } = require('node:worker_threads')
    import(workerData.url).then(({ MailboxRegistry }) => {
      const r = MailboxRegistry.attach(workerData.handle, { observeIntervalMs: 10 })
      const mb = r.mailbox('ünïcode:session/42', { group: 'sessions' })
      for (let i = 0; i < 9; i++) mb.push(i)
      let n = 3
      r.observe('socket:peer', () => n, { group: 'sockets' })
      parentPort.postMessage('ready')
      parentPort.once('message', () => { n = 30; setTimeout(() => parentPort.postMessage('sampled'), 100) })
    })
    `,
    {
      eval: true,
      workerData: { handle: registry.handle, url: new URL('../src/index.js', import.meta.url).href },
    },
  )
  await once(worker, 'message')
  await new Promise((resolve) => setTimeout(resolve, 30))
  const [first, second] = registry.top(2)
  assert.equal(first!.name, 'ünïcode:session/42')
  assert.equal(first!.length, 9)
  assert.equal(first!.enqueued, 9)
  assert.ok(first!.oldestAgeMs >= 20, `age ${first!.oldestAgeMs}`)
  assert.equal(second!.name, 'socket:peer')
  assert.equal(second!.length, 3)
  worker.postMessage('go')
  await once(worker, 'message')
  assert.equal(registry.stats().byGroup['sockets']!.queued, 30)
  await worker.terminate()
})
