/**
 * Series that two sources both name. Invariants: every series appears once in a snapshot's metrics;
 * the rows of several bulkheads or throttles of one origin are summed (nothing counted twice, nothing
 * lost); two semaphores with one name keep the first and warn once; a 32-bit counter read near its
 * wrap point goes on increasing.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { Semaphore } from '@beamline/semaphore'
import { adaptiveThrottle, bulkhead } from '@beamline/undici'
import { Registry } from 'prom-client'
import { Agent } from 'undici'
import { promCollector, startExporter } from '../src/index.js'

describe('colliding sources', () => {
  it('regression: colliding series are merged silently (issue 15 #9)', async () => {
    // Two Agents, each with its own bulkhead and throttle, for one origin: their rows came out as two
    // series with one label set (Prometheus refuses the scrape; the sidecar kept one: 3 of 6).
    const server = createServer((_req, res) => res.end('ok'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const guards = [0, 1].map(() => ({ bulkhead: bulkhead(), throttle: adaptiveThrottle() }))
    const agents = guards.map((g) => new Agent().compose(g.bulkhead, g.throttle))
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    process.on('warning', onWarning)
    const sources = {
      // One name twice: neither summable (they may be one shared semaphore) nor separable.
      semaphores: [new Semaphore({ name: 'db', max: 2 }), new Semaphore({ name: 'db', max: 9 })],
      undici: { bulkheads: guards.map((g) => g.bulkhead), throttles: guards.map((g) => g.throttle) },
    }
    const exporter = await startExporter({ service: 'svc', ...sources, listen: { port: 0 } })
    const registry = new Registry()
    const collector = promCollector(registry, sources, { runtime: false })
    try {
      for (const agent of agents) {
        for (let i = 0; i < 3; i++)
          await (await agent.request({ origin, path: '/', method: 'GET' })).body.text()
      }
      const snapshot = exporter.snapshot()
      assert.equal(snapshot.undici.bulkheads.length, 1)
      assert.equal(snapshot.undici.bulkheads[0]!.admitted, 6)
      assert.equal(snapshot.undici.throttles.length, 1)
      assert.deepEqual(
        [snapshot.undici.throttles[0]!.requestsTotal, snapshot.undici.throttles[0]!.acceptsTotal],
        [6, 6],
      )
      const text = await registry.metrics()
      const admitted = text
        .split('\n')
        .filter((l) => l.startsWith('beamline_undici_requests_total{') && l.includes('admitted'))
      assert.deepEqual(admitted, [`beamline_undici_requests_total{origin="${origin}",outcome="admitted"} 6`])
      assert.deepEqual(
        text.split('\n').filter((l) => l.startsWith('beamline_semaphore_max{')),
        ['beamline_semaphore_max{semaphore="db"} 2'],
      )
      await new Promise((r) => setImmediate(r))
      assert.ok(
        warnings.some((w) => w.includes('two sources report beamline_semaphore_in_use{db}')),
        warnings.join('\n'),
      )
    } finally {
      process.off('warning', onWarning)
      collector.close()
      await exporter.close()
      await Promise.all(agents.map((a) => a.close()))
      server.close()
    }
  })

  it('widens a 32-bit counter read near its wrap point', async () => {
    // `reclaimed` sits in an Int32 of the semaphore's shared memory. The word is the test's own here,
    // next to a real semaphore, because the semaphore's layout belongs to its package.
    const word = new Int32Array(new SharedArrayBuffer(4))
    word[0] = 2 ** 31 - 2
    const sem = new Semaphore({ name: 'db', max: 2 })
    const source = { stats: () => ({ ...sem.stats(), reclaimed: Atomics.load(word, 0) }) }
    const exporter = await startExporter({ service: 'svc', semaphores: [source], listen: { port: 0 } })
    try {
      const seen: number[] = []
      for (let i = 0; i < 5; i++) {
        seen.push(exporter.snapshot().semaphores[0]!.reclaimed)
        Atomics.add(word, 0, 1) // 2^31 − 1, then −2^31 (wrapped), −2^31 + 1, …
      }
      assert.deepEqual(seen, [2 ** 31 - 2, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 2 ** 31 + 2])
      Atomics.store(word, 0, -1) // 2^32 − 1 as unsigned
      Atomics.add(word, 0, 1) // 0: a second wrap
      assert.equal(exporter.snapshot().semaphores[0]!.reclaimed, 2 ** 32)
    } finally {
      await exporter.close()
    }
  })
})
