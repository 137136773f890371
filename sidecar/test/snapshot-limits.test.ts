/*
 * Regression: a source past the schema's bounds (more than 10 000 bulkhead keys, a key longer than
 * 1024 characters, a NaN signal) made the exporter serve a document the sidecar refused whole, so
 * one odd value took every metric of the service down. The exporter now fits what it serves into the
 * schema: the snapshot it serves for such sources must validate, and keep every other field.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SNAPSHOT_PATH, type Snapshot, startExporter } from '@beamline/exporter'
import { request } from 'undici'
import { snapshotError } from '../src/index.js'

test('regression: the exporter serves what the sidecar accepts, even from sources past the schema', async () => {
  const row = (key: string) => ({
    key,
    active: 0,
    queued: 0,
    admitted: 1,
    queuedTotal: 0,
    rejected: 0,
    timedOut: 0,
    aborted: 0,
  })
  const rows = Array.from({ length: 10_001 }, (_, i) => row(`http://h${i}.test`))
  rows[0] = row(`http://${'x'.repeat(2000)}.test`)
  const warnings: string[] = []
  const onWarning = (w: Error) => warnings.push(w.message)
  process.on('warning', onWarning)
  const exporter = await startExporter({
    service: 'odd',
    pressure: {
      level: 0,
      score: Number.NaN,
      reasons: [],
      signals: () => ({ gcFraction: Number.POSITIVE_INFINITY }),
      shedStats: () => [],
    },
    undici: { bulkheads: [{ stats: () => rows }] },
    listen: { port: 0 },
  })
  try {
    const res = await request(`${exporter.url}${SNAPSHOT_PATH}`)
    const doc = (await res.body.json()) as Snapshot
    assert.equal(snapshotError(doc), undefined)
    assert.equal(doc.undici.bulkheads.length, 10_000)
    assert.equal(doc.undici.bulkheads[0]!.key.length, 1024)
    assert.equal(doc.undici.bulkheads[1]!.key, 'http://h1.test')
    assert.equal(doc.pressure?.score, 0)
    assert.equal(doc.pressure?.signals['gcFraction'], 0)
    await new Promise((r) => setImmediate(r))
    assert.ok(
      warnings.some((w) => w.includes('10001 keys')),
      warnings.join('\n'),
    )
    assert.ok(
      warnings.some((w) => w.includes('score is NaN')),
      warnings.join('\n'),
    )
  } finally {
    process.off('warning', onWarning)
    await exporter.close()
  }
})
