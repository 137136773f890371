/**
 * The snapshot has one definition (@beamline/exporter/schema): the JSON Schema file and
 * docs/snapshot-schema.md are generated from it, today's exporter writes documents it accepts, later
 * minor versions may add fields anywhere, and another major version is refused by name and counted.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { it } from 'node:test'
import { SNAPSHOT_PATH, startExporter } from '@beamline/exporter'
import { MailboxRegistry } from '@beamline/mailbox'
import { PressureMonitor } from '@beamline/pressure'
import { Semaphore } from '@beamline/semaphore'
import { Ajv } from 'ajv'
import {
  parseTarget,
  SNAPSHOT_SCHEMA_URL,
  sidecarConfig,
  snapshotProblem,
  startSidecar,
  TargetClient,
} from '../src/index.js'
import { EXAMPLE, renderSchemaFile, renderSnapshotDoc } from '../src/snapshot-doc.js'
import { eventually } from './helpers.js'

const DOC = new URL('../../../docs/snapshot-schema.md', import.meta.url)
const SCHEMA_FILE = new URL('../../schema/snapshot-v1.schema.json', import.meta.url)

function generated(file: URL, expected: string, what: string): void {
  if (process.env['BEAMLINE_WRITE_DOCS'] === '1') writeFileSync(file, expected)
  assert.equal(
    readFileSync(file, 'utf8'),
    expected,
    `${what} is stale: regenerate it (see docs/snapshot-schema.md's top)`,
  )
}

it('the JSON Schema file is generated from the definition', () => {
  assert.equal(SNAPSHOT_SCHEMA_URL.href, SCHEMA_FILE.href)
  generated(SCHEMA_FILE, renderSchemaFile(), 'sidecar/schema/snapshot-v1.schema.json')
})

it('docs/snapshot-schema.md is generated from the definition', () => {
  generated(DOC, renderSnapshotDoc(), 'docs/snapshot-schema.md')
  assert.match(renderSnapshotDoc(), /`overflow` \| number \| Evicted from a full drop-oldest mailbox/)
})

it("the documented example and today's exporter's snapshots are valid, by the definition and by the file", async () => {
  const file = new Ajv({ strict: true }).compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')))
  assert.equal(snapshotProblem(EXAMPLE), undefined)
  assert.ok(file(EXAMPLE), JSON.stringify(file.errors))
  const registry = new MailboxRegistry()
  registry.mailbox<number>('user:1', { group: 'sessions', capacity: 2, overflow: 'drop-oldest' }).push(1)
  const pressure = new PressureMonitor({ registry })
  const exporter = await startExporter({
    service: 'schema-test',
    registry,
    pressure,
    semaphores: [new Semaphore({ name: 'db', max: 2 })],
    listen: { port: 0 },
  })
  try {
    const doc = (await (await fetch(`${exporter.url}${SNAPSHOT_PATH}`)).json()) as unknown
    assert.equal(snapshotProblem(doc), undefined)
    assert.ok(file(doc), JSON.stringify(file.errors))
  } finally {
    await exporter.close()
    pressure.stop()
    registry.close()
  }
})

it('accepts the fields a later minor version adds, at any depth', () => {
  const later = structuredClone(EXAMPLE) as Record<string, unknown> & typeof EXAMPLE
  later['limits'] = [{ name: 'http', limit: 20, inFlight: 3 }]
  ;(later.mailboxes.totals.dropped as Record<string, number>)['abandoned'] = 2
  ;(later.mailboxes.top[0]!.dropped as Record<string, number>)['abandoned'] = 0
  ;(later.semaphores[0] as Record<string, unknown>)['byPartition'] = { low: 1 }
  ;(later.runtime as Record<string, unknown>)['cpuSeconds'] = 1.5
  assert.equal(snapshotProblem(later), undefined)
})

it('refuses another major version by name, and counts it as unsupported_version', async () => {
  const v2 = { ...EXAMPLE, schema: 'beamline.snapshot/v2', mailboxes: 'restructured in v2' }
  assert.equal(snapshotProblem(v2)?.error, 'unsupported_version')
  assert.equal(snapshotProblem({ ...EXAMPLE, schema: 'beamline.snapshot/v0' })?.error, 'unsupported_version')
  assert.equal(snapshotProblem({ ...EXAMPLE, schema: 'something/v2' })?.error, 'invalid_snapshot')
  assert.equal(snapshotProblem({ ...EXAMPLE, pid: -1 })?.error, 'invalid_snapshot')

  const server = createServer((_req, res) =>
    res.setHeader('content-type', 'application/json').end(JSON.stringify(v2)),
  )
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const client = new TargetClient(parseTarget(url, 'test'), { timeoutMs: 2_000, maxBodyBytes: 1 << 20 })
  const sidecar = await startSidecar(
    sidecarConfig({ targets: [url], intervalMs: 100, listen: '127.0.0.1:0' }),
    {
      log: () => {},
    },
  )
  try {
    const result = await client.poll()
    assert.equal(result.ok, false)
    if (result.ok) return
    assert.equal(result.error, 'unsupported_version')
    assert.match(
      result.reason,
      /beamline\.snapshot\/v2 is newer than the beamline\.snapshot\/v1 this sidecar reads/,
    )
    await eventually('the refusal counted', async () => {
      const metrics = await (await fetch(`${sidecar.url}/metrics`)).text()
      assert.match(metrics, /^beamline_sidecar_poll_errors_total\{reason="unsupported_version"\} [1-9]/m)
      assert.match(metrics, new RegExp(`^beamline_target_up\\{target="${url}"\\} 0$`, 'm'))
      return true
    })
    const targets = (await (await fetch(`${sidecar.url}/api/v1/targets`)).json()) as unknown
    assert.match(JSON.stringify(targets), /beamline\.snapshot\/v2 is newer/)
  } finally {
    await client.close()
    await sidecar.close()
    server.close()
  }
})
