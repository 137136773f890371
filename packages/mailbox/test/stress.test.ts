/**
 * Invariants under real worker threads sharing one registry, some of which die mid-operation:
 *  1. Per mailbox, whenever its thread is between operations:
 *       enqueued === dequeued + dropped.overflow + dropped.expired + length   (checked in each worker)
 *  2. Once the surviving workers are quiescent, registry.stats() read from another thread equals,
 *     group by group and in total, the sum over every thread of its mailboxes' own stats(), closed
 *     mailboxes included (their slots were folded and reused by other threads, some registrations found
 *     no slot and were counted group-only): enqueued, dequeued, rejected, dropped, queued and live.
 *  3. While the workers run and die, every stats() a reader takes is internally consistent (totals
 *     equal the sum of the groups, no gauge is negative) and no counter of it is below the same
 *     counter in the reader's previous stats(): monotonic through churn, slot reuse and deaths.
 *  4. Once every worker has exited (thrown, terminated mid-loop, or ended with mailboxes open), their
 *     threads are reclaimed: nothing is live or queued, the items they left are in dropped.abandoned,
 *     every counter is what it was (the survivors' groups exactly: queued moved to abandoned), and
 *     enqueued = dequeued + dropped.overflow + dropped.expired + dropped.abandoned in every group.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { MailboxRegistry, type RegistryStats } from '../src/index.js'
import { MonotonicCheck } from './fixtures/monotonic.js'
import { type GroupTotals, zeroTotals } from './fixtures/totals.js'

const THREADS = 4
const ROUNDS = 3000
const GROUPS = ['push', 'sessions', 'undici', 'jobs', 'misc']
/** Groups of the doomed workers, whose own totals die with them. */
const DOOMED_GROUPS = ['doomed:push', 'doomed:jobs']

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
    s.dropped.abandoned,
    groups.reduce((n, g) => n + g.dropped.abandoned, 0),
  )
  assert.equal(
    s.mailboxes,
    groups.reduce((n, g) => n + g.mailboxes, 0),
  )
  assert.ok(s.overflowNames >= 0 && s.overflowNames <= s.overflowNamesTotal)
}

function exited(worker: Worker): Promise<number> {
  // Not once(): it rejects on 'error', and a worker that throws must still be awaited.
  return new Promise((resolve) => worker.once('exit', resolve))
}

test(`accounting is exact and monotonic across ${THREADS} worker threads with slot churn, unnamed (group-only) mailboxes and deaths`, async (t) => {
  // Small capacity on purpose: threads compete for slots, reuse each other's folded slots (and those
  // of dead threads), and spill into group-only accounting.
  const registry = new MailboxRegistry({ capacity: 40 })
  const url = new URL('./fixtures/stress-worker.js', import.meta.url)
  const data = (i: number) => ({ handle: registry.handle, seed: 1234 + i * 7919, rounds: ROUNDS })
  const workers = Array.from(
    { length: THREADS },
    (_, i) => new Worker(url, { workerData: { ...data(i), groups: GROUPS } }),
  )
  const thrower = new Worker(url, {
    workerData: { ...data(THREADS), groups: DOOMED_GROUPS, death: 'throw', dieAt: 1000 },
  })
  thrower.on('error', () => {})
  const terminated = new Worker(url, {
    workerData: { ...data(THREADS + 1), groups: DOOMED_GROUPS, death: 'terminate' },
  })
  // Terminated at whatever point of its loop it is in once it reported round 1500.
  terminated.on('message', ({ round }: { round: number }) => {
    if (round >= 1500) void terminated.terminate()
  })
  // A failed assertion must not leave the survivors waiting for 'exit' (and the test file running).
  t.after(() => Promise.all([...workers, thrower, terminated].map((w) => w.terminate())))
  const results = workers.map(
    (w) => once(w, 'message') as Promise<[{ totals: Record<string, GroupTotals>; groupOnlySeen: number }]>,
  )
  const doomedExits = [exited(thrower), exited(terminated)]
  let running = true
  let reads = 0
  const check = new MonotonicCheck()
  void Promise.all([...results, ...doomedExits]).then(() => (running = false))
  while (running) {
    const s = reads % 2 ? registry.stats() : registry.snapshot(5).stats
    checkConsistent(s)
    check.observe(s)
    reads++
    await new Promise((resolve) => setImmediate(resolve))
  }
  const reports = (await Promise.all(results)).map(([m]) => m)
  assert.deepEqual(await Promise.all(doomedExits), [1, 1])
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
  const pick = (g: RegistryStats['byGroup'][string]) => ({
    queued: g.queued,
    enqueued: g.enqueued,
    dequeued: g.dequeued,
    rejected: g.rejected,
    overflow: g.dropped.overflow,
    expired: g.dropped.expired,
    live: g.mailboxes,
  })
  let s = registry.stats()
  checkConsistent(s)
  check.observe(s)
  for (const group of GROUPS) {
    const got = s.byGroup[group]
    const want = expected[group]
    if (want === undefined) {
      assert.equal(got, undefined)
      continue
    }
    assert.ok(got, `group ${group} missing`)
    assert.deepEqual(pick(got), want, `group ${group}`)
    assert.equal(got.dropped.abandoned, 0)
    assert.equal(got.enqueued, got.dequeued + got.dropped.overflow + got.dropped.expired + got.queued)
  }
  const sum = (key: keyof GroupTotals) => Object.values(expected).reduce((n, t) => n + t[key], 0)
  assert.ok(sum('enqueued') > THREADS * ROUNDS * 50, 'enough traffic to mean something')
  assert.ok(sum('queued') > 0 && sum('live') > 0, 'the survivors should leave items queued')

  // The survivors exit with their mailboxes open: their items move to dropped.abandoned.
  for (const w of workers) w.postMessage('exit')
  assert.deepEqual(
    await Promise.all(workers.map(exited)),
    workers.map(() => 0),
  )
  s = registry.stats()
  checkConsistent(s)
  check.observe(s)
  assert.equal(check.decreases, 0, check.examples.join('; '))
  assert.equal(s.mailboxes, 0)
  assert.equal(s.totalQueued, 0)
  assert.equal(s.longest, null)
  assert.equal(s.overflowNames, 0)
  for (const group of GROUPS) {
    const want = expected[group]
    if (want === undefined) continue
    const got = s.byGroup[group]!
    assert.deepEqual(pick(got), { ...want, queued: 0, live: 0 }, `group ${group} after exit`)
    assert.equal(got.dropped.abandoned, want.queued, `group ${group} abandoned`)
  }
  for (const [name, g] of Object.entries(s.byGroup)) {
    assert.equal(
      g.enqueued,
      g.dequeued + g.dropped.overflow + g.dropped.expired + g.dropped.abandoned,
      `identity of group ${name}`,
    )
  }
  assert.ok(DOOMED_GROUPS.some((g) => (s.byGroup[g]?.enqueued ?? 0) > 0))
  assert.ok(check.scans > 2)
  // Every slot came back: a full registry's worth of named mailboxes fits again.
  const again = Array.from({ length: registry.capacity }, (_, i) => registry.mailbox(`again-${i}`))
  assert.ok(again.every((mb) => !mb.groupOnly))
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
      // Alive until terminated: an exited thread's queues are reclaimed.
      setInterval(() => {}, 1000)
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
