/**
 * @beamline/limit end to end (issue 17): an adaptive limit held by two threads reaches the snapshot
 * (valid, one row per limit, partitions and every outcome), the sidecar serves `beamline_limit_*` per
 * partition from a real poll, an exporter older than the `limits` section stays valid and makes no
 * series up, and the undici adaptive bulkhead's per-origin limit is served as `beamline_undici_limit`.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { SNAPSHOT_PATH, type Snapshot, startExporter } from '@beamline/exporter'
import { AdaptiveLimit } from '@beamline/limit'
import { bulkhead } from '@beamline/undici'
import { Agent, request } from 'undici'
import {
  createExposition,
  parseTarget,
  Store,
  sidecarConfig,
  snapshotError,
  startSidecar,
} from '../src/index.js'
import { EXAMPLE } from '../src/snapshot-doc.js'

/** The served value of one series, its labels given as they are printed (a fragment of the label set). */
function value(body: string, name: string, labels: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

test('a limit held by two threads is exported per partition and served by the sidecar', async () => {
  // fixed: the limit stays at 4 whatever the samples, so the expected values are exact.
  const limit = new AdaptiveLimit({
    name: 'http',
    algorithm: 'fixed',
    initialLimit: 4,
    partitions: { normal: 0.75, low: 0.25 },
  })
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads')
    import(workerData.url).then(({ AdaptiveLimit }) => {
      const limit = AdaptiveLimit.attach(workerData.handle)
      const tokens = [limit.tryAcquire('normal'), limit.tryAcquire('normal')]
      parentPort.postMessage(tokens.filter(Boolean).length)
      parentPort.once('message', () => {
        tokens[0].success()
        tokens[1].dropped()
        parentPort.postMessage('ended')
      })
    })`,
    { eval: true, workerData: { handle: limit.handle, url: import.meta.resolve('@beamline/limit') } },
  )
  const [held] = (await once(worker, 'message')) as [number]
  assert.equal(held, 2)
  const normal = limit.tryAcquire('normal')
  const low = limit.tryAcquire('low')
  assert.ok(normal && low)
  assert.equal(limit.tryAcquire('normal'), undefined, 'the limit of 4 is full: a refusal')

  const origin = createServer((_req, res) => res.end('ok'))
  origin.listen(0, '127.0.0.1')
  await once(origin, 'listening')
  const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`
  const adaptive = bulkhead({ maxConcurrent: 'adaptive' })
  const agent = new Agent().compose(adaptive)
  await (await request(originUrl, { dispatcher: agent })).body.text()

  const exporter = await startExporter({
    service: 'svc',
    limits: [limit],
    undici: { bulkheads: [adaptive] },
    listen: { port: 0 },
  })
  const sidecar = await startSidecar(
    sidecarConfig({ targets: [exporter.url], intervalMs: 100, listen: '127.0.0.1:0' }),
    { log: () => {} },
  )
  try {
    const doc = (await (await fetch(`${exporter.url}${SNAPSHOT_PATH}`)).json()) as Snapshot
    assert.equal(snapshotError(doc), undefined)
    const row = doc.limits![0]!
    assert.equal(row.name, 'http')
    assert.equal(row.limit, 4)
    assert.equal(row.inFlight, 4)
    assert.equal(row.partitions['normal']!.inFlight, 3)
    assert.equal(row.partitions['low']!.inFlight, 1)
    assert.equal(row.partitions['normal']!.rejected, 1)
    assert.equal(row.queueTime.count, 4)
    assert.ok(row.queueTime.boundsMs.every(Number.isFinite), 'no +Inf bound in JSON')
    assert.equal(doc.undici.bulkheads[0]!.limit, 20, "the origin's adaptive limit starts at 20")

    await sidecar.ready
    const scrape = async () => (await (await fetch(`${sidecar.url}/metrics`)).text()) as string
    let body = await scrape()
    assert.equal(value(body, 'beamline_limit_limit', 'limit="http"'), 4)
    assert.equal(value(body, 'beamline_limit_min_limit', 'limit="http"'), 1)
    assert.equal(value(body, 'beamline_limit_in_flight', 'limit="http",partition="normal"'), 3)
    assert.equal(value(body, 'beamline_limit_in_flight', 'limit="http",partition="low"'), 1)
    assert.equal(value(body, 'beamline_limit_queued', 'limit="http",partition="low"'), 0)
    const requests = (partition: string, outcome: string) =>
      value(
        body,
        'beamline_limit_requests_total',
        `limit="http",partition="${partition}",outcome="${outcome}"`,
      )
    assert.equal(requests('normal', 'acquired'), 3)
    assert.equal(requests('normal', 'rejected'), 1)
    assert.equal(requests('low', 'acquired'), 1)
    assert.equal(requests('low', 'queue_full'), 0)
    assert.equal(value(body, 'beamline_limit_queue_time_seconds_total', 'limit="http"'), 0)
    assert.match(body, new RegExp(`^beamline_undici_limit\\{[^}]*origin="${originUrl}"\\} 20$`, 'm'))

    worker.postMessage('end')
    await once(worker, 'message')
    normal.ignore()
    low.success()
    // Served once the sidecar has polled after the tokens ended.
    const completed = (outcome: string) =>
      value(body, 'beamline_limit_completed_total', `limit="http",partition="normal",outcome="${outcome}"`)
    const deadline = Date.now() + 30_000
    while (completed('ignored') !== 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100))
      body = await scrape()
    }
    assert.equal(completed('succeeded'), 1)
    assert.equal(completed('dropped'), 1, "the worker's drop counts in the same row")
    assert.equal(completed('ignored'), 1)
    assert.equal(value(body, 'beamline_limit_in_flight', 'limit="http",partition="normal"'), 0)
  } finally {
    await sidecar.close()
    await exporter.close()
    await agent.close()
    origin.close()
    await worker.terminate()
  }
})

test('an older exporter (no limits) and a limit before its first window make no series up', async () => {
  const { limits: _, ...older } = structuredClone(EXAMPLE)
  older.undici.bulkheads = older.undici.bulkheads.map(
    ({ limit: _l, ...b }) => b,
  ) as typeof older.undici.bulkheads
  assert.equal(snapshotError(older), undefined)
  const fresh = structuredClone(EXAMPLE)
  fresh.limits = [
    { ...EXAMPLE.limits[0]!, minRttMs: null, sampleRttMs: null },
  ] as unknown as typeof EXAMPLE.limits
  assert.equal(snapshotError(fresh), undefined)

  const served = async (doc: unknown) => {
    const store = new Store({ intervalMs: 1000, ttlMs: 60_000, maxSeries: 10_000, peakWindowMs: 30_000 })
    const state = store.add(parseTarget('http://127.0.0.1:1', 'test'))
    store.record(state, { ok: true, snapshot: doc as Snapshot, bytes: 0 }, 1, Date.now())
    return (await createExposition(store).render(false)).body
  }
  const old = await served(older)
  assert.doesNotMatch(old, /^beamline_limit_|^beamline_undici_limit/m)
  assert.match(old, /^beamline_undici_active\{/m)
  const first = await served(fresh)
  assert.equal(value(first, 'beamline_limit_limit', 'limit="http"'), 24)
  assert.doesNotMatch(first, /^beamline_limit_(min|sample)_rtt_seconds\{/m)
  const full = await served(EXAMPLE)
  const minRtt = value(full, 'beamline_limit_min_rtt_seconds', 'limit="http"')
  assert.ok(minRtt !== undefined && Math.abs(minRtt - 0.0041) < 1e-12, `4.1 ms as seconds, not ${minRtt}`)
})
