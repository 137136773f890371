/**
 * Items a dead worker left in its mailboxes (issue 15 #2) reach the sidecar: the exporter's snapshot
 * carries dropped.abandoned and validates, a snapshot of an exporter older than that field validates
 * too, `beamline_mailbox_dropped_total{reason="abandoned"}` is served, and the dropped rate counts them.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { type Snapshot, startExporter } from '@beamline/exporter'
import { MailboxRegistry } from '@beamline/mailbox'
import { createExposition, parseTarget, Store, snapshotError } from '../src/index.js'

test('a dead worker’s queued items are exported, served and rated as dropped, reason abandoned', async () => {
  const registry = new MailboxRegistry({ capacity: 16 })
  const exporter = await startExporter({ service: 'svc', registry, listen: { port: 0 } })
  // The group exists from the first snapshot on, so the second one gives a rate.
  registry.mailbox('jobs:main', { group: 'jobs' })
  const snapshots: Snapshot[] = [{ ...exporter.snapshot(), time: 1_000_000 }]
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads')
    import(workerData.url).then(({ MailboxRegistry }) => {
      const mb = MailboxRegistry.attach(workerData.handle).mailbox('jobs:1', { group: 'jobs' })
      for (let i = 0; i < 5000; i++) mb.push(i)
      throw new Error('dies with 5000 items queued')
    })`,
    {
      eval: true,
      workerData: { handle: registry.handle, url: import.meta.resolve('@beamline/mailbox') },
    },
  )
  worker.on('error', () => {})
  await new Promise((resolve) => worker.once('exit', () => setImmediate(resolve)))
  snapshots.push({ ...exporter.snapshot(), time: 1_001_000 })
  await exporter.close()

  const after = snapshots[1]!
  assert.equal(after.mailboxes!.groups['jobs']!.dropped.abandoned, 5000)
  assert.equal(after.mailboxes!.totals.dropped.abandoned, 5000)
  assert.equal(after.mailboxes!.totals.queued, 0)
  assert.equal(after.mailboxes!.totals.mailboxes, 1)
  assert.equal(snapshotError(JSON.parse(JSON.stringify(after))), undefined)
  // What an exporter older than the field sends: still valid, and no abandoned series made up.
  const older = JSON.parse(JSON.stringify(after), (key, value) => (key === 'abandoned' ? undefined : value))
  assert.equal(snapshotError(older), undefined)

  const options = { intervalMs: 1000, ttlMs: 60_000, maxSeries: 10_000, peakWindowMs: 30_000 }
  const target = parseTarget('http://127.0.0.1:1', 'test')
  const store = new Store(options)
  const state = store.add(target)
  for (const s of snapshots) store.record(state, { ok: true, snapshot: s, bytes: 0 }, 1, Date.now())
  const { body } = await createExposition(store).render(false)
  assert.match(body, /^beamline_mailbox_dropped_total\{[^}]*group="jobs",reason="abandoned"\} 5000$/m)
  assert.match(body, /^beamline_mailbox_rate\{[^}]*group="jobs",direction="dropped",window="1s"\} 5000$/m)

  const oldStore = new Store(options)
  oldStore.record(oldStore.add(target), { ok: true, snapshot: older as Snapshot, bytes: 0 }, 1, Date.now())
  const old = (await createExposition(oldStore).render(false)).body
  assert.match(old, /^beamline_mailbox_dropped_total\{[^}]*group="jobs",reason="expired"\} 0$/m)
  assert.doesNotMatch(old, /reason="abandoned"/)
})
