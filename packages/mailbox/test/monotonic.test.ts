/**
 * Invariant: for every reader, no counter of stats() (totals and byGroup: enqueued, dequeued, rejected,
 * dropped.*) ever decreases, whatever opens or closes during its scans, and once the writers are done
 * the totals are exact: each closed mailbox's counts are in its group exactly once.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { MailboxRegistry } from '../src/index.js'
import { GO, READY, STOP } from './fixtures/churn-flags.js'
import { MonotonicCheck } from './fixtures/monotonic.js'
import { type GroupTotals, zeroTotals } from './fixtures/totals.js'

function run(data: object): { worker: Worker; result: Promise<unknown> } {
  const worker = new Worker(new URL('./fixtures/churn-worker.js', import.meta.url), { workerData: data })
  const result = new Promise((resolve, reject) => {
    let message: unknown
    worker.once('message', (m) => (message = m))
    worker.once('error', reject)
    worker.once('exit', (code) => (code === 0 ? resolve(message) : reject(new Error(`worker exit ${code}`))))
  })
  return { worker, result }
}

test('regression: group counters go backwards when mailboxes close during a scan (issue 15 #1)', async () => {
  const registry = new MailboxRegistry({ capacity: 25_000 })
  const flags = new Int32Array(new SharedArrayBuffer(12))
  const common = { handle: registry.handle, perBusy: 100_000, flags }
  const busy = run({ ...common, role: 'busy', count: 60, seed: 1 })
  // Churn and the reader go on until the busy mailboxes are done.
  void busy.result.finally(() => Atomics.store(flags, STOP, 1))
  const writers = [
    busy,
    run({ ...common, role: 'churn', count: 1000, seed: 2 }),
    run({ ...common, role: 'churn', count: 1000, seed: 3 }),
  ]
  const reader = run({ ...common, role: 'reader', count: 0, seed: 4 })
  while (Atomics.load(flags, READY) < 4) await sleep(1)
  // Idle mailboxes after the writers' slots: every scan passes those early and then reads for long.
  const idle = Array.from({ length: 20_000 }, (_, i) =>
    registry.mailbox<number>(`idle-${i}`, { group: 'idle' }),
  )
  Atomics.store(flags, GO, 1)
  Atomics.notify(flags, GO)
  let running = true
  const done = Promise.all(writers.map((w) => w.result)).finally(() => (running = false))
  const check = new MonotonicCheck()
  while (running) {
    check.observe(check.scans % 2 ? registry.stats() : registry.snapshot(5).stats)
    await new Promise((resolve) => setImmediate(resolve))
  }
  const reports = (await done) as Record<string, GroupTotals>[]
  const fromReader = (await reader.result) as ReturnType<MonotonicCheck['report']>

  assert.ok(check.scans > 20, `only ${check.scans} scans`)
  assert.deepEqual(
    { main: check.decreases, reader: fromReader.decreases },
    { main: 0, reader: 0 },
    `decreases seen: ${[...check.examples, ...fromReader.examples].join('; ')} (${check.scans} + ${fromReader.scans} scans)`,
  )

  const expected: Record<string, GroupTotals> = {}
  for (const report of reports) {
    for (const [group, t] of Object.entries(report)) {
      const e = (expected[group] ??= zeroTotals())
      for (const key of Object.keys(t) as (keyof GroupTotals)[]) e[key] += t[key]
    }
  }
  const s = registry.stats()
  check.observe(s)
  assert.equal(check.decreases, 0)
  for (const [group, want] of Object.entries(expected)) {
    const got = s.byGroup[group]!
    assert.deepEqual(
      {
        enqueued: got.enqueued,
        dequeued: got.dequeued,
        rejected: got.rejected,
        overflow: got.dropped.overflow,
        expired: got.dropped.expired,
        abandoned: got.dropped.abandoned,
        queued: got.queued,
        mailboxes: got.mailboxes,
      },
      {
        enqueued: want.enqueued,
        dequeued: want.dequeued,
        rejected: want.rejected,
        overflow: want.overflow,
        expired: want.expired,
        abandoned: 0,
        queued: 0,
        mailboxes: 0,
      },
      `group ${group}`,
    )
  }
  assert.ok(expected['chat']!.enqueued >= 60 * 100_000)
  assert.equal(s.mailboxes, idle.length)
  for (const mb of idle) mb.close()
})
