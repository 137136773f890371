/**
 * The OTLP/HTTP push against a real receiver (a node:http server decoding the JSON bodies), with the
 * sidecar's command line and real service processes, one of which restarts.
 *
 * Invariants checked: each monitored process is its own Resource (`service.name`,
 * `service.instance.id`, `process.pid`) and its points carry only their own attributes; the sidecar's
 * own metrics are the Resource `beamline-sidecar`; cumulative sums start at the owning process's
 * `startTime`, so across a restart a sum never decreases under one start time; the OpenTelemetry SDK
 * is not even loaded without `--otlp-endpoint`.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  eventually,
  type Service,
  type SidecarProcess,
  startService,
  startSidecarProcess,
} from './helpers.js'

interface KeyValue {
  key: string
  value: { stringValue?: string; intValue?: number | string; doubleValue?: number }
}
interface Point {
  attributes: KeyValue[]
  startTimeUnixNano: string
  timeUnixNano: string
  asDouble?: number
  asInt?: number | string
}
interface ExportBody {
  resourceMetrics: Array<{
    resource: { attributes: KeyValue[] }
    scopeMetrics: Array<{
      metrics: Array<{
        name: string
        sum?: { dataPoints: Point[]; isMonotonic?: boolean }
        gauge?: { dataPoints: Point[] }
      }>
    }>
  }>
}

const attr = (list: KeyValue[], key: string) => {
  const v = list.find((a) => a.key === key)?.value
  return v?.stringValue ?? (v?.intValue === undefined ? v?.doubleValue : Number(v.intValue))
}

/** Every point of `metric` whose resource is `service`, in the order the receiver got them. */
function points(bodies: readonly ExportBody[], service: string, metric: string) {
  const out: Array<{ resource: KeyValue[]; point: Point }> = []
  for (const body of bodies) {
    for (const rm of body.resourceMetrics) {
      if (attr(rm.resource.attributes, 'service.name') !== service) continue
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          if (m.name !== metric) continue
          for (const point of m.sum?.dataPoints ?? m.gauge?.dataPoints ?? [])
            out.push({ resource: rm.resource.attributes, point })
        }
      }
    }
  }
  return out
}

const num = (p: Point) => Number(p.asDouble ?? p.asInt)
const group = (p: Point) => attr(p.attributes, 'group')

describe('OTLP push', () => {
  const dir = mkdtempSync(join(tmpdir(), 'beamline-otlp-'))
  const socket = `unix:${join(dir, 'd.sock')}`
  const bodies: ExportBody[] = []
  let receiver: Server
  let a: Service
  let d: Service
  let sidecar: SidecarProcess

  before(async () => {
    receiver = createServer((req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (chunk: string) => (body += chunk))
      req.on('end', () => {
        bodies.push(JSON.parse(body) as ExportBody)
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    receiver.listen(0, '127.0.0.1')
    await once(receiver, 'listening')
    const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/metrics`
    ;[a, d] = await Promise.all([startService('svc-a', 'tcp'), startService('svc-d', socket, 'd-0')])
    sidecar = await startSidecarProcess([
      '--interval-ms',
      '200',
      '--otlp-endpoint',
      endpoint,
      '--otlp-interval-ms',
      '300',
      '--target',
      a.first.url,
      '--target',
      socket,
    ])
  })

  after(async () => {
    sidecar?.child.kill('SIGKILL')
    for (const s of [a, d]) s?.child.kill('SIGKILL')
    receiver.closeAllConnections()
    await new Promise((r) => receiver.close(r))
    rmSync(dir, { recursive: true, force: true })
  })

  it('regression: OTLP carries the wrong identity (issue 15 #8)', async () => {
    // The push was one Resource service.name=beamline-sidecar with the services as point attributes,
    // and its sums started at the sidecar's start: after a service restart a sum went down under an
    // unchanged start time.
    const work = { cmd: 'work', group: 'orders', dequeue: 0, acquire: 0, reject: 0 }
    await d.send({ ...work, enqueue: 50 })
    const first = await eventually('D counted 50 in a push', async () =>
      points(bodies, 'svc-d', 'beamline.mailbox.enqueued').find(
        (x) => group(x.point) === 'orders' && num(x.point) === 50,
      ),
    )
    assert.equal(attr(first.resource, 'service.instance.id'), 'd-0')
    assert.equal(attr(first.resource, 'process.pid'), d.first.pid)
    assert.equal(attr(first.resource, 'process.creation.time'), new Date(d.first.startTime).toISOString())
    assert.deepEqual(
      first.point.attributes.map((x) => x.key),
      ['group'],
      'the point carries its own labels only',
    )
    assert.equal(BigInt(first.point.startTimeUnixNano), BigInt(d.first.startTime) * 1_000_000n)

    const own = points(bodies, 'beamline-sidecar', 'beamline.target.up')
    assert.ok(own.some((x) => attr(x.point.attributes, 'target') === socket && num(x.point) === 1))
    assert.equal(points(bodies, 'beamline-sidecar', 'beamline.mailbox.enqueued').length, 0)
    assert.ok(points(bodies, 'svc-a', 'beamline.semaphore.max').length > 0, 'A is its own Resource')

    // Restart D at the same socket with the same instance: the sum restarts at its new start time.
    d.child.kill('SIGKILL')
    await once(d.child, 'exit')
    d = await startService('svc-d', socket, 'd-0')
    await d.send({ ...work, enqueue: 7 })
    const restarted = await eventually('D counted 7 in a push after its restart', async () =>
      points(bodies, 'svc-d', 'beamline.mailbox.enqueued').find(
        (x) => group(x.point) === 'orders' && num(x.point) === 7,
      ),
    )
    assert.equal(BigInt(restarted.point.startTimeUnixNano), BigInt(d.first.startTime) * 1_000_000n)
    assert.ok(BigInt(restarted.point.startTimeUnixNano) > BigInt(first.point.startTimeUnixNano))
    assert.equal(attr(restarted.resource, 'process.pid'), d.first.pid)
    // The invariant a backend relies on: under one start time, a cumulative sum never decreases.
    const last = new Map<string, number>()
    for (const { point } of points(bodies, 'svc-d', 'beamline.mailbox.enqueued')) {
      const key = `${group(point)}\0${point.startTimeUnixNano}`
      assert.ok(
        num(point) >= (last.get(key) ?? 0),
        `sum decreased under start time ${point.startTimeUnixNano}`,
      )
      last.set(key, num(point))
    }
  })

  it('does not load the OpenTelemetry SDK without --otlp-endpoint (issue 16)', async () => {
    const hook = fileURLToPath(new URL('./fixtures/import-log.js', import.meta.url))
    const env = { NODE_OPTIONS: `--import ${hook}` }
    const loaded = async (args: string[]) => {
      const p = await startSidecarProcess(['--target', a.first.url, ...args], env)
      try {
        await eventually('a poll', async () =>
          (await fetch(`${p.url}/readyz`)).status === 200 ? true : undefined,
        )
        await (await fetch(`${p.url}/metrics`)).text()
        // @opentelemetry/api is required by prom-client itself (its exemplars); the SDK is the weight.
        return p
          .stderr()
          .split('\n')
          .some((l) => l.startsWith('import-log: ') && !l.includes('/@opentelemetry/api/'))
      } finally {
        p.child.kill('SIGKILL')
      }
    }
    assert.equal(await loaded([]), false)
    // The hook does see the SDK when it is asked for.
    assert.equal(await loaded(['--otlp-endpoint', 'http://127.0.0.1:9/v1/metrics']), true)
  })
})
