/**
 * Series that collide in the sidecar, with real service processes and the sidecar's command line.
 * Invariants: two processes reporting one service and instance are both served, each under
 * `instance@target`, with its own values; a snapshot naming one series twice serves the first; each
 * collision is counted in `beamline_sidecar_collisions_total{kind}` and warned about once.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { type Snapshot, startExporter } from '@beamline/exporter'
import { Semaphore } from '@beamline/semaphore'
import {
  eventually,
  parseExposition,
  type Service,
  type SidecarProcess,
  startService,
  startSidecarProcess,
  value,
} from './helpers.js'

describe('colliding series in the sidecar', () => {
  let p: Service
  let q: Service
  let sidecar: SidecarProcess
  let twice = ''
  const servers: ReturnType<typeof createServer>[] = []

  before(async () => {
    // Two processes of one pod, both configured with the pod's name as instance.
    ;[p, q] = await Promise.all([
      startService('svc-p', 'tcp', 'pod-0'),
      startService('svc-p', 'tcp', 'pod-0'),
    ])
    // A snapshot of a real exporter whose semaphore list names "db" twice (an older exporter, or
    // another implementation of the format, can send one).
    const exporter = await startExporter({
      service: 'svc-twice',
      semaphores: [new Semaphore({ name: 'db', max: 3 })],
      listen: { port: 0 },
    })
    const base = exporter.snapshot()
    await exporter.close()
    const server = createServer((_req, res) => {
      const doc: Snapshot = {
        ...base,
        time: Date.now(),
        semaphores: [base.semaphores[0]!, { ...base.semaphores[0]!, max: 9 }],
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    servers.push(server)
    twice = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    sidecar = await startSidecarProcess([
      '--interval-ms',
      '200',
      ...[p.first.url, q.first.url, twice].flatMap((url) => ['--target', url]),
    ])
  })

  after(async () => {
    sidecar?.child.kill('SIGKILL')
    for (const s of [p, q]) s?.child.kill('SIGKILL')
    for (const s of servers) s.close()
  })

  it('regression: colliding series are merged silently (issue 15 #9)', async () => {
    // Both processes' series had one label set: the sidecar kept whichever was polled last, and one
    // process's counts were lost without a word.
    const work = { cmd: 'work', group: 'orders', dequeue: 0, acquire: 0, reject: 0 }
    await p.send({ ...work, enqueue: 100 })
    await q.send({ ...work, enqueue: 900 })
    const asP = `instance="pod-0@${p.first.url}"`
    const asQ = `instance="pod-0@${q.first.url}"`
    const s = await eventually('both processes served apart', async () => {
      const m = parseExposition(await (await fetch(`${sidecar.url}/metrics`)).text())
      const pv = value(m, 'beamline_mailbox_enqueued_total', 'service="svc-p"', asP, 'group="orders"')
      const qv = value(m, 'beamline_mailbox_enqueued_total', 'service="svc-p"', asQ, 'group="orders"')
      return pv === 100 && qv === 900 && value(m, 'beamline_semaphore_max', 'service="svc-twice"')
        ? m
        : undefined
    })
    assert.equal(value(s, 'beamline_mailbox_enqueued_total', 'instance="pod-0"'), undefined)
    assert.equal(value(s, 'beamline_sidecar_collisions_total', 'kind="instance"'), 1)
    // The repeated semaphore: the first is served, once; the second counted at every poll.
    assert.equal(
      [...s.keys()].filter((k) => k.startsWith('beamline_semaphore_max{') && k.includes('svc-twice')).length,
      1,
    )
    assert.equal(value(s, 'beamline_semaphore_max', 'service="svc-twice"'), 3)
    assert.ok((value(s, 'beamline_sidecar_collisions_total', 'kind="series"') ?? 0) > 0)
    // Warned once per target and kind, however many polls.
    const lines = sidecar.stderr().split('\n')
    assert.equal(lines.filter((l) => l.includes('served as instance@target')).length, 1, sidecar.stderr())
    assert.equal(lines.filter((l) => l.includes(`${twice} reports beamline_semaphore_`)).length, 1)
    assert.match(sidecar.stderr(), /reports beamline_semaphore_in_use\{db\} twice/)
  })
})
