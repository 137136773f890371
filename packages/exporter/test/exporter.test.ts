/**
 * The exporter's HTTP endpoint: Unix sockets owner-only with stale-socket cleanup, loopback TCP by
 * default, the snapshot document, and sources that throw (left out, warned about once, never thrown).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { MailboxRegistry } from '@beamline/mailbox'
import { Semaphore } from '@beamline/semaphore'
import { request } from 'undici'
import { SNAPSHOT_PATH, SNAPSHOT_SCHEMA, type Snapshot, startExporter } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'beamline-exporter-'))
after(() => rmSync(dir, { recursive: true, force: true }))

async function get(url: string, path = SNAPSHOT_PATH, method: 'GET' | 'POST' = 'GET') {
  const socketPath = url.startsWith('unix:') ? url.slice(5) : undefined
  const origin = socketPath ? 'http://localhost' : url
  const { Client } = await import('undici')
  const client = new Client(origin, socketPath ? { socketPath } : {})
  try {
    const res = await request(`${origin}${path}`, { dispatcher: client, method })
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
  } finally {
    await client.close()
  }
}

describe('startExporter', () => {
  it('serves the snapshot on an owner-only Unix socket and removes it on close', async () => {
    const path = join(dir, 'svc.sock')
    const sem = new Semaphore({ name: 'db', max: 3 })
    sem.tryAcquire()
    const exporter = await startExporter({
      service: 'chat-api',
      semaphores: [sem],
      rings: {
        sessions: {
          version: 7,
          nodes: [
            { id: 'a', weight: 1 },
            { id: 'b', weight: 3 },
          ],
        },
      },
      listen: { path },
    })
    assert.equal(exporter.url, `unix:${path}`)
    assert.equal(statSync(path).mode & 0o777, 0o600)
    const res = await get(exporter.url)
    assert.equal(res.status, 200)
    assert.match(String(res.headers['content-type']), /^application\/json/)
    const snap = JSON.parse(res.text) as Snapshot
    assert.equal(snap.schema, SNAPSHOT_SCHEMA)
    assert.equal(snap.service, 'chat-api')
    assert.equal(snap.pid, process.pid)
    assert.equal(snap.mailboxes, null)
    assert.equal(snap.pressure, null)
    assert.deepEqual(snap.rings, { sessions: { version: 7, nodes: 2, weight: 4 } })
    assert.equal(snap.semaphores[0]!.name, 'db')
    assert.equal(snap.semaphores[0]!.inUse, 1)
    assert.equal(snap.semaphores[0]!.acquired, 1)
    assert.ok(snap.runtime.eventLoopUtilization >= 0 && snap.runtime.eventLoopUtilization <= 1)
    assert.ok(Object.keys(snap.runtime.heapSpaces).includes('old_space'))
    assert.ok(snap.runtime.rssBytes > 0)
    assert.equal((await get(exporter.url, '/other')).status, 404)
    assert.equal((await get(exporter.url, SNAPSHOT_PATH, 'POST')).status, 405)
    await exporter.close()
    await exporter.close()
    assert.throws(() => statSync(path), { code: 'ENOENT' })
  })

  it('replaces a stale socket, refuses a live one and anything that is not a socket', async () => {
    const path = join(dir, 'stale.sock')
    // A process killed while listening leaves its socket file behind.
    const killed = spawnSync(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ])
    assert.equal(killed.signal, 'SIGKILL')
    assert.ok(statSync(path).isSocket())
    const exporter = await startExporter({ service: 's', listen: { path } })
    assert.equal((await get(exporter.url)).status, 200)

    await assert.rejects(startExporter({ service: 's', listen: { path } }), {
      code: 'ERR_BEAMLINE_EXPORTER_LISTEN',
      message: /in use by a running process/,
    })
    await exporter.close()

    const file = join(dir, 'regular')
    writeFileSync(file, 'keep me')
    await assert.rejects(startExporter({ service: 's', listen: { path: file } }), {
      code: 'ERR_BEAMLINE_EXPORTER_LISTEN',
      message: /not a socket/,
    })
    assert.equal(statSync(file).size, 7)
  })

  it('binds TCP to loopback by default and reports a taken port', async () => {
    const exporter = await startExporter({ service: 's', listen: { port: 0 } })
    assert.match(exporter.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal((await get(exporter.url)).status, 200)
    const port = Number(exporter.url.split(':').at(-1))
    await assert.rejects(startExporter({ service: 's', listen: { port } }), {
      code: 'ERR_BEAMLINE_EXPORTER_LISTEN',
    })
    await exporter.close()
  })

  it('validates its options', async () => {
    await assert.rejects(startExporter({ service: '', listen: { port: 0 } }), {
      code: 'ERR_BEAMLINE_INVALID_OPTION',
      message: /^service:/,
    })
    await assert.rejects(startExporter({ service: 's', topN: -1, listen: { port: 0 } }), {
      message: /^topN: must be an integer from 0 to 1000/,
    })
    await assert.rejects(startExporter({ service: 's', listen: { port: 70000 } }), {
      message: /^listen\.port:/,
    })
  })

  it('exports a real mailbox registry: totals, groups and the top-N, from one pass or from two calls', async () => {
    const registry = new MailboxRegistry({ capacity: 64 })
    for (let i = 0; i < 30; i++) {
      const mb = registry.mailbox<number>(`session-${i}`, { group: i % 2 ? 'push' : 'chat', capacity: 8 })
      for (let k = 0; k < i % 6; k++) mb.push(k)
    }
    // The same registry without snapshot(), as an older @beamline/mailbox or another source would be.
    const twoCalls = { stats: () => registry.stats(), top: (n: number) => registry.top(n) }
    const onePass = await startExporter({ service: 's', registry, topN: 5, listen: { port: 0 } })
    const fallback = await startExporter({ service: 's', registry: twoCalls, topN: 5, listen: { port: 0 } })
    try {
      const [a, b] = [onePass, fallback].map((e) => e.snapshot().mailboxes!)
      assert.equal(a.totals.queued, 75)
      assert.equal(a.totals.mailboxes, 30)
      assert.deepEqual(Object.keys(a.groups).sort(), ['chat', 'push'])
      assert.deepEqual(
        a.top.map((t) => t.length),
        [5, 5, 5, 5, 5],
      )
      assert.equal(a.longest?.length, 5)
      const strip = (m: typeof a) => ({ ...m, top: m.top.map(({ oldestAgeMs: _, ...row }) => row) })
      assert.deepEqual(strip(a), strip(b))
    } finally {
      await Promise.all([onePass.close(), fallback.close()])
    }
  })

  it('serves an observed queue with no age (null), and a mailbox with the age of its oldest item', async () => {
    const registry = new MailboxRegistry({ capacity: 8 })
    const observed = registry.observe('ws:outbound', () => 173, { group: 'sockets' })
    const mailbox = registry.mailbox<number>('jobs', { group: 'jobs' })
    mailbox.push(1)
    const exporter = await startExporter({ service: 's', registry, listen: { port: 0 } })
    try {
      await new Promise((resolve) => setTimeout(resolve, 20))
      const { text } = await get(exporter.url)
      const top = (JSON.parse(text) as Snapshot).mailboxes!.top
      const row = (name: string) => top.find((m) => m.name === name)!
      assert.equal(row('ws:outbound').length, 173)
      assert.equal(row('ws:outbound').oldestAgeMs, null)
      assert.equal(row('jobs').length, 1)
      assert.ok(row('jobs').oldestAgeMs! > 0, `jobs: ${row('jobs').oldestAgeMs}`)
    } finally {
      observed.close()
      await exporter.close()
    }
  })

  it('leaves out a source that throws, warns once, and keeps serving the others', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    process.on('warning', onWarning)
    const exporter = await startExporter({
      service: 's',
      semaphores: [new Semaphore({ name: 'ok', max: 1 })],
      pressure: {
        get level(): number {
          throw new Error('pressure exploded')
        },
        score: 0,
        reasons: [],
        signals: () => ({}),
        shedStats: () => [],
      },
      listen: { port: 0 },
    })
    for (let i = 0; i < 3; i++) {
      const snap = JSON.parse((await get(exporter.url)).text) as Snapshot
      assert.equal(snap.pressure, null)
      assert.equal(snap.semaphores[0]!.name, 'ok')
    }
    await new Promise((r) => setImmediate(r))
    process.off('warning', onWarning)
    assert.equal(warnings.filter((w) => w.includes('pressure exploded')).length, 1)
    await exporter.close()
  })
})
