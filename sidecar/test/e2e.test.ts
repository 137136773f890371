/**
 * End to end, with real processes: two services with exporters (one on a Unix socket, one on TCP), a
 * third that dies mid-run, four misbehaving HTTP targets (hung, 50 MiB, invalid JSON, wrong schema),
 * an OTLP/HTTP receiver, and the sidecar's command line as a child process.
 *
 * Invariants checked: the sidecar's counters equal what each service counted itself; rates match the
 * work's pace; a peak between scrapes survives to the next scrape; misbehaving or dead targets are
 * `beamline_target_up 0` with a reason while the others keep being polled on time; label values are
 * escaped; the output passes `promtool check metrics`; SIGTERM ends the process with 0 within 5 s.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from 'undici'
import { METRICS } from '../src/index.js'
import {
  CLI,
  eventually,
  parseExposition,
  promtool,
  promtoolProblems,
  type Service,
  type SidecarProcess,
  startService,
  startSidecarProcess,
  value,
} from './helpers.js'

const ESCAPED_NAME = 'b"q\\s\nx'
const ESCAPED_LABEL = 'service="b\\"q\\\\s\\nx"'

async function listen(handler: RequestListener): Promise<{ server: Server; url: string }> {
  const server = createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

describe('sidecar end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'beamline-e2e-'))
  let a: Service
  let b: Service
  let c: Service
  let sidecar: SidecarProcess
  const servers: Server[] = []
  const bad: Record<'hung' | 'huge' | 'garbage' | 'schema', string> = {
    hung: '',
    huge: '',
    garbage: '',
    schema: '',
  }
  const otlpBodies: string[] = []
  let otlpUrl = ''

  const metrics = async (accept?: string) => {
    const res = await fetch(`${sidecar.url}/metrics`, accept ? { headers: { accept } } : {})
    return { res, text: await res.text() }
  }
  const targets = async () =>
    (
      (await (await fetch(`${sidecar.url}/api/v1/targets`)).json()) as {
        targets: Array<Record<string, unknown>>
      }
    ).targets

  before(async () => {
    ;[a, b, c] = await Promise.all([
      startService('svc-a', `unix:${join(dir, 'a.sock')}`),
      startService(ESCAPED_NAME, 'tcp'),
      startService('svc-c', 'tcp'),
    ])
    const hung = await listen(() => {})
    const huge = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      const chunk = Buffer.alloc(1024 * 1024, 0x20)
      let sent = 0
      const write = () => {
        while (sent < 50 && res.write(chunk)) sent++
        if (sent >= 50) res.end()
        else res.once('drain', write)
      }
      res.write('{"schema":"beamline.snapshot/v1","pad":"')
      write()
      res.on('error', () => {})
    })
    const garbage = await listen((_req, res) => res.end('{"schema": beamline'))
    const schema = await listen((_req, res) => res.end('{"schema":"beamline.snapshot/v1","service":42}'))
    const otlp = await listen((req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (d: string) => (body += d))
      req.on('end', () => {
        otlpBodies.push(body)
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    servers.push(hung.server, huge.server, garbage.server, schema.server, otlp.server)
    Object.assign(bad, { hung: hung.url, huge: huge.url, garbage: garbage.url, schema: schema.url })
    otlpUrl = `${otlp.url}/v1/metrics`
    sidecar = await startSidecarProcess([
      '--interval-ms',
      '250',
      '--otlp-endpoint',
      otlpUrl,
      '--otlp-interval-ms',
      '500',
      '--peak-window',
      '10s',
      ...[a, b, c].flatMap((s) => ['--target', s.first.url]),
      ...Object.values(bad).flatMap((u) => ['--target', u]),
    ])
    await eventually('readiness', async () =>
      (await fetch(`${sidecar.url}/readyz`)).status === 200 ? true : undefined,
    )
  })

  after(async () => {
    sidecar?.child.kill('SIGKILL')
    for (const s of [a, b, c]) s?.child.kill('SIGKILL')
    for (const s of servers) s.closeAllConnections()
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves the counters each service counted, over a Unix socket and over TCP', async () => {
    const ra = await a.send({
      cmd: 'work',
      group: 'orders',
      enqueue: 1500,
      dequeue: 700,
      acquire: 9,
      reject: 5,
    })
    const rb = await b.send({ cmd: 'work', group: 'orders', enqueue: 30, dequeue: 30, acquire: 2, reject: 3 })
    await eventually('both services counted', async () => {
      const s = parseExposition((await metrics()).text)
      for (const [svc, r] of [
        ['service="svc-a"', ra],
        [ESCAPED_LABEL, rb],
      ] as const) {
        if (value(s, 'beamline_mailbox_enqueued_total', svc, 'group="orders"') !== r.totals.enqueued)
          return undefined
      }
      const g = ['service="svc-a"', 'group="orders"']
      assert.equal(value(s, 'beamline_mailbox_dequeued_total', ...g), ra.totals.dequeued)
      assert.equal(value(s, 'beamline_mailbox_queued_messages', ...g), 300)
      assert.equal(value(s, 'beamline_mailbox_dropped_total', ...g, 'reason="overflow"'), ra.totals.dropped)
      assert.equal(ra.totals.dropped, 500)
      assert.equal(
        value(s, 'beamline_semaphore_acquired_total', 'service="svc-a"', 'semaphore="db"'),
        ra.totals.acquired,
      )
      assert.equal(
        value(s, 'beamline_semaphore_rejected_total', 'service="svc-a"', 'semaphore="db"'),
        ra.totals.rejected,
      )
      assert.equal(value(s, 'beamline_semaphore_max', 'service="svc-a"'), 4)
      assert.equal(value(s, 'beamline_ring_nodes', 'service="svc-a"', 'ring="sessions"'), 2)
      assert.equal(value(s, 'beamline_semaphore_rejected_total', ESCAPED_LABEL), rb.totals.rejected)
      assert.equal(value(s, 'beamline_target_up', `target="${a.first.url}"`), 1)
      assert.ok((value(s, 'beamline_nodejs_eventloop_utilization', 'service="svc-a"') ?? -1) >= 0)
      return true
    })
  })

  it('computes 1 s, 10 s and 100 s rates at the pace of the work', async () => {
    // 40 messages every 40 ms: 1000 per second while the service's timers keep up.
    await a.send({ cmd: 'steady', perTick: 40, tickMs: 40 })
    try {
      await new Promise((r) => setTimeout(r, 2500))
      const s = parseExposition((await metrics()).text)
      for (const window of ['1s', '10s', '100s']) {
        for (const direction of ['enqueued', 'dequeued']) {
          const rate = value(
            s,
            'beamline_mailbox_rate',
            'service="svc-a"',
            'group="steady"',
            `direction="${direction}"`,
            `window="${window}"`,
          )
          assert.ok(rate !== undefined && rate > 250 && rate < 2000, `${direction} ${window} rate ${rate}`)
        }
      }
      assert.equal(
        value(
          s,
          'beamline_mailbox_rate',
          'service="svc-a"',
          'group="steady"',
          'direction="dropped"',
          'window="1s"',
        ),
        0,
      )
      assert.ok(
        value(s, 'beamline_semaphore_rate', 'service="svc-a"', 'outcome="acquired"', 'window="10s"') !==
          undefined,
      )
    } finally {
      await a.send({ cmd: 'stop-steady' })
    }
  })

  it('regression: _peak gauges are reset by a /metrics render (issue 15 #5)', async () => {
    // Each scrape reset the peaks, so of two Prometheus servers scraping in turn each saw only the
    // peak since the other's scrape. Now a peak is the highest poll of the trailing --peak-window
    // (10 s here), the same for every reader.
    const spikeOf = async () => {
      const body = (await (await fetch(`${sidecar.url}/api/v1/snapshot`)).json()) as {
        targets: Array<{
          target: string
          snapshot: { time: number; mailboxes: { groups: Record<string, { queued: number }> } } | null
        }>
      }
      const s = body.targets.find((t) => t.target === b.first.url)?.snapshot
      return s ? { time: s.time, queued: s.mailboxes.groups['spike']?.queued } : undefined
    }
    await b.send({ cmd: 'fill', group: 'spike', n: 800 })
    const spike = await eventually('a poll during the spike', async () => {
      const s = await spikeOf()
      return s?.queued === 800 ? s : undefined
    })
    await b.send({ cmd: 'drain', group: 'spike' })
    await eventually('a poll after the spike', async () =>
      (await spikeOf())?.queued === 0 ? true : undefined,
    )
    const scrapers = [new Client(sidecar.url), new Client(sidecar.url)]
    const scrape = async (client: Client) => {
      const res = await client.request({ path: '/metrics', method: 'GET' })
      const s = parseExposition(await res.body.text())
      return {
        queued: value(s, 'beamline_mailbox_queued_messages', ESCAPED_LABEL, 'group="spike"'),
        peak: value(s, 'beamline_mailbox_queued_messages_peak', ESCAPED_LABEL, 'group="spike"'),
      }
    }
    try {
      const seen: number[] = []
      for (let i = 0; i < 6; i++) {
        const got = await scrape(scrapers[i % 2]!)
        // The window is on the service's clock: stop once the sidecar's polls have left the spike behind.
        if ((await spikeOf())!.time - spike.time >= 9000) break
        assert.deepEqual(got, { queued: 0, peak: 800 }, `scrape ${i} by scraper ${i % 2}`)
        seen.push(i % 2)
      }
      assert.ok(seen.includes(0) && seen.includes(1), 'both scrapers saw the spike')
      await eventually(
        'the spike to leave the window',
        async () => ((await scrape(scrapers[0]!)).peak === 0 ? true : undefined),
        30_000,
      )
    } finally {
      await Promise.all(scrapers.map((c) => c.close()))
    }
  })

  it('marks hung, oversized, garbage and off-schema targets down with a reason, without delaying the others', async () => {
    const list = await eventually('every bad target polled', async () => {
      const t = await targets()
      return t.every((x) => x['lastPollTime'] !== null) ? t : undefined
    })
    const byUrl = new Map(list.map((t) => [t['target'] as string, t]))
    assert.match(String(byUrl.get(bad.hung)!['reason']), /timed out after 500 ms/)
    assert.match(String(byUrl.get(bad.huge)!['reason']), /exceeds the 4194304-byte limit/)
    assert.match(String(byUrl.get(bad.garbage)!['reason']), /invalid JSON/)
    assert.match(
      String(byUrl.get(bad.schema)!['reason']),
      /invalid snapshot: \/ must have required property 'instance'/,
    )
    for (const u of Object.values(bad)) assert.equal(byUrl.get(u)!['up'], false)
    // The good targets are polled every 250 ms, each in a few ms, although the hung one takes 500 ms.
    const before = byUrl.get(a.first.url)!['lastPollTime'] as number
    await new Promise((r) => setTimeout(r, 1200))
    const again = new Map((await targets()).map((t) => [t['target'] as string, t]))
    for (const s of [a, b]) {
      const t = again.get(s.first.url)!
      assert.equal(t['up'], true)
      assert.ok((t['pollDurationSeconds'] as number) < 0.4, `poll took ${t['pollDurationSeconds']} s`)
    }
    assert.ok(
      (again.get(a.first.url)!['lastPollTime'] as number) - before >= 750,
      'polls of A kept their pace',
    )
    const s = parseExposition((await metrics()).text)
    for (const u of Object.values(bad)) assert.equal(value(s, 'beamline_target_up', `target="${u}"`), 0)
  })

  it('regression: a target that stops answering keeps its last values for the TTL (issue 15 #10)', async () => {
    // A dead process went on reporting its last queues and pressure for the whole TTL (5 min). Now its
    // series stop at its first failed poll, on /metrics and in OTLP; beamline_target_up 0 stays.
    const svcC = 'service="svc-c"'
    assert.ok(value(parseExposition((await metrics()).text), 'beamline_semaphore_max', svcC) !== undefined)
    c.child.kill('SIGKILL')
    await eventually('C down', async () => {
      const t = (await targets()).find((x) => x['target'] === c.first.url)!
      return t['up'] === false ? t : undefined
    })
    const s = parseExposition((await metrics()).text)
    assert.equal(value(s, 'beamline_target_up', `target="${c.first.url}"`), 0)
    assert.deepEqual(
      [...s.keys()].filter((k) => k.includes(svcC)),
      [],
      'no series of the dead service is served',
    )
    const sent = otlpBodies.length
    await eventually('two OTLP exports after C went down', async () =>
      otlpBodies.length >= sent + 2 ? true : undefined,
    )
    for (const body of otlpBodies.slice(sent + 1)) assert.ok(!body.includes('"svc-c"'), 'C left the push')
    const r = await a.send({
      cmd: 'work',
      group: 'after-death',
      enqueue: 42,
      dequeue: 0,
      acquire: 0,
      reject: 0,
    })
    await eventually('A still served', async () => {
      const s = parseExposition((await metrics()).text)
      return value(s, 'beamline_mailbox_enqueued_total', 'service="svc-a"', 'group="after-death"') === 42 &&
        value(s, 'beamline_mailbox_enqueued_total', 'service="svc-a"', 'group="orders"') === 1000 &&
        r.totals.enqueued > 0
        ? true
        : undefined
    })
  })

  it('escapes quotes, backslashes and newlines in label values', async () => {
    const { text } = await metrics()
    assert.ok(text.includes(`beamline_semaphore_max{${ESCAPED_LABEL},`), 'escaped service label present')
    for (const line of text.split('\n')) assert.ok(!line.startsWith('x"'), 'no label value broke a line')
  })

  it('serves only metrics of the catalogue, and passes promtool check metrics', async (t) => {
    const { res, text } = await metrics()
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    const known = new Set(METRICS.map((m) => m.name))
    for (const line of text.split('\n')) {
      const m = /^# TYPE (\S+) /.exec(line)
      if (m) assert.ok(known.has(m[1]!), `${m[1]} is in the catalogue`)
    }
    const tool = promtool(t)
    if (!tool) return
    assert.deepEqual(promtoolProblems(tool, text, false), [])
  })

  it('regression: the OpenMetrics output is invalid (issue 20 #5)', async (t) => {
    // Counter beamline_undici_queued_total and gauge beamline_undici_queued were one family in
    // OpenMetrics: promtool refused it with a second HELP line. A service with a bulkhead serves both.
    const { text } = await metrics('application/openmetrics-text;version=1.0.0')
    assert.ok(text.includes('beamline_undici_queued{'), 'the bulkhead gauge is served')
    assert.ok(text.includes('beamline_undici_queued_requests_total{'), 'and its counter')
    const tool = promtool(t)
    if (!tool) return
    assert.deepEqual(promtoolProblems(tool, text, true), [])
  })

  it('negotiates OpenMetrics from the Accept header', async () => {
    const { res, text } = await metrics(
      'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
    )
    assert.match(res.headers.get('content-type') ?? '', /^application\/openmetrics-text; version=1\.0\.0/)
    assert.ok(text.endsWith('# EOF\n'))
    assert.match(text, /^# TYPE beamline_mailbox_enqueued counter$/m)
    assert.match(text, /^beamline_mailbox_enqueued_total\{service="svc-a",/m)
    const plain = await metrics('text/plain')
    assert.match(plain.text, /^# TYPE beamline_mailbox_enqueued_total counter$/m)
  })

  it('serves the merged snapshot and the health endpoints', async () => {
    const body = (await (await fetch(`${sidecar.url}/api/v1/snapshot`)).json()) as {
      ready: boolean
      targets: Array<{
        target: string
        up: boolean
        snapshot: { semaphores: Array<{ name: string }>; mailboxes: { top: unknown[] } } | null
        rates: Record<string, unknown>
        topRates: Array<{ enqueued: number | null; dequeued: number | null }>
      }>
    }
    assert.equal(body.ready, true)
    const ta = body.targets.find((t) => t.target === a.first.url)!
    assert.equal(ta.snapshot!.semaphores[0]!.name, 'db')
    assert.ok(ta.snapshot!.mailboxes.top.length > 0)
    assert.ok(ta.rates['mailbox'] && ta.rates['semaphore'])
    assert.equal(ta.topRates.length, ta.snapshot!.mailboxes.top.length)
    assert.equal((await fetch(`${sidecar.url}/healthz`)).status, 200)
    assert.equal((await fetch(`${sidecar.url}/readyz`)).status, 200)
    assert.equal((await fetch(`${sidecar.url}/nope`)).status, 404)
    const post = await fetch(`${sidecar.url}/metrics`, { method: 'POST' })
    assert.equal(post.status, 405)
    assert.equal(post.headers.get('allow'), 'GET')
  })

  it('regression: SIGTERM while still starting exits 0, not 143', async () => {
    // Signalled once it says it is starting (before that node itself may still be booting, with no
    // JavaScript to catch a signal), at once and a little later, while it loads and binds.
    for (const delayMs of [0, 50]) {
      const child = spawn(
        process.execPath,
        [CLI, '--listen', '127.0.0.1:0', '--target', 'http://127.0.0.1:9'],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      )
      let stderr = ''
      await new Promise<void>((resolve) => {
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString()
          if (stderr.includes('starting\n')) resolve()
        })
      })
      await sleep(delayMs)
      child.kill('SIGTERM')
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null]
      assert.deepEqual(
        { code, signal },
        { code: 0, signal: null },
        `SIGTERM ${delayMs} ms after starting: ${stderr}`,
      )
    }
  })

  it('exits 0 within 5 s on SIGTERM', async () => {
    const start = Date.now()
    sidecar.child.kill('SIGTERM')
    const [code] = await once(sidecar.child, 'exit')
    assert.equal(code, 0)
    assert.ok(Date.now() - start < 5000, `took ${Date.now() - start} ms`)
  })
})
