/*
 * Invariants, checked against real node:http servers with undici 8 and undici 7:
 * - The origin never sees more than maxConcurrent requests of one key at once (measured server side),
 *   and with everything blocked exactly maxConcurrent are on the wire and maxQueued wait. Under random
 *   aborts the bound is checked where the bulkhead sets it, at the Agent (an interceptor beneath it):
 *   an aborted request's slot is free once undici reports the abort, and the server may notice the
 *   closed socket a moment later.
 * - A refused request never reaches the server: server-side count === admitted.
 * - Per key: admitted + rejected + timedOut + aborted === requests made, once quiescent, also under
 *   random delays, aborts and timeouts (stress test).
 * - A request that times out or is aborted while waiting leaves at once and takes no slot; one aborted
 *   on the wire gives its slot back to the next waiting request.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { PerformanceObserver, type PerformanceResourceTiming } from 'node:perf_hooks'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import {
  BeamlineError,
  BulkheadFullError,
  type BulkheadKeyStats,
  bulkhead,
  InvalidOptionError,
  OTHER_KEY,
  OVERFLOW_KEY,
  QueueTimeoutError,
} from '@beamline/undici'
import {
  majors,
  outcomes,
  sleep,
  startGate,
  startServer,
  type TestServer,
  type Undici,
  wireCounter,
} from './helpers.js'

function keyStats(stats: BulkheadKeyStats[], key: string): BulkheadKeyStats {
  const s = stats.find((x) => x.key === key)
  assert.ok(s, `no stats for ${key}`)
  return s
}

test('bad options are refused with ERR_BEAMLINE_INVALID_OPTION', () => {
  const bad: Record<string, unknown>[] = [
    { maxConcurrent: 0 },
    { maxConcurrent: -1 },
    { maxConcurrent: 1.5 },
    { maxConcurrent: Number.NaN },
    { maxConcurrent: '4' },
    { maxQueued: -1 },
    { maxQueued: 2.5 },
    { queueTimeoutMs: 0 },
    { queueTimeoutMs: -5 },
    { queueTimeoutMs: Number.POSITIVE_INFINITY },
    { maxKeys: 0 },
    { key: 'origin' },
    { semaphore: {} },
    { registry: {} },
  ]
  for (const options of bad) {
    assert.throws(
      () => bulkhead(options),
      (err: unknown) => err instanceof InvalidOptionError && err.code === 'ERR_BEAMLINE_INVALID_OPTION',
      JSON.stringify(options),
    )
  }
  // maxQueued 0 is the documented fail-fast mode, not an error.
  assert.equal(typeof bulkhead({ maxQueued: 0 }), 'function')
})

for (const major of majors) {
  describe(`bulkhead with ${major.name}`, () => {
    let undici: Undici
    let fast: TestServer
    before(async () => {
      undici = await major.load()
      fast = await startServer((req, res) => {
        if (req.headers.upgrade) return // handled by the 'upgrade' listener
        res.end(`ok ${req.url}`)
      })
      fast.server.on('upgrade', (_req, socket) => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n')
        socket.pipe(socket)
      })
    })
    after(() => fast.close())

    test('limits are exact under concurrency; refused requests never reach the server', async () => {
      const gate = await startGate()
      const b = bulkhead({ maxConcurrent: 7, maxQueued: 20, queueTimeoutMs: 30_000 })
      const agent = new undici.Agent().compose(b)
      try {
        for (let round = 0; round < 3; round++) {
          const base = b.stats().find((x) => x.key === gate.origin) ?? {
            rejected: 0,
            admitted: 0,
            queuedTotal: 0,
          }
          const seenBefore = gate.seen()
          const requests = Array.from({ length: 100 }, (_, i) =>
            agent
              .request({ origin: gate.origin, path: `/${round}/${i}`, method: 'GET' })
              .then((r) => r.body.text()),
          )
          const settled = outcomes(requests) // handlers attached now: refusals arrive before the gate opens
          await gate.waitFor(7)
          await sleep(50) // let any request that wrongly got through arrive
          const during = keyStats(b.stats(), gate.origin)
          assert.equal(gate.current(), 7, 'on the wire, seen by the server')
          assert.equal(during.active, 7)
          assert.equal(during.queued, 20)
          assert.equal(during.rejected - base.rejected, 73)
          gate.release()
          const { ok, codes } = await settled
          assert.equal(ok.length, 27)
          assert.deepEqual(new Set(codes), new Set(['ERR_BEAMLINE_BULKHEAD_FULL']))
          assert.equal(codes.length, 73)
          const end = keyStats(b.stats(), gate.origin)
          assert.equal(end.admitted - base.admitted, 27)
          assert.equal(gate.seen() - seenBefore, 27, 'the server saw exactly the admitted requests')
          assert.equal(end.queuedTotal - base.queuedTotal, 20)
          assert.equal(end.active, 0)
          assert.equal(end.queued, 0)
          assert.ok(gate.peak() <= 7, `server peak ${gate.peak()}`)
          gate.hold()
        }
      } finally {
        await agent.close()
        await gate.close()
      }
    })

    test('stress: random delays, aborts and timeouts keep the limit and the accounting exact', async () => {
      const server = await startServer((_req, res) => {
        setTimeout(() => res.end('ok'), 5 + Math.random() * 30)
      })
      const b = bulkhead({ maxConcurrent: 5, maxQueued: 15, queueTimeoutMs: 40 })
      const wire = wireCounter()
      const agent = new undici.Agent().compose(wire.interceptor as never, b)
      const total = 1500
      try {
        for (let wave = 0; wave < total / 100; wave++) {
          await outcomes(
            Array.from({ length: 100 }, () => {
              const ac = new AbortController()
              if (Math.random() < 0.3) setTimeout(() => ac.abort(new Error('gave up')), Math.random() * 30)
              return agent
                .request({ origin: server.origin, path: '/', method: 'GET', signal: ac.signal })
                .then((r) => r.body.text())
            }),
          )
        }
        const s = keyStats(b.stats(), server.origin)
        assert.equal(wire.peak(), 5, 'the Agent never held more than maxConcurrent, and did reach it')
        assert.equal(wire.current(), 0)
        assert.equal(s.active, 0)
        assert.equal(s.queued, 0)
        assert.equal(s.admitted + s.rejected + s.timedOut + s.aborted, total, JSON.stringify(s))
        assert.ok(server.seen() <= s.admitted, 'only admitted requests reached the server')
        assert.ok(
          s.rejected > 0 && s.timedOut > 0 && s.aborted > 0,
          `every path was exercised: ${JSON.stringify(s)}`,
        )
      } finally {
        await agent.close()
        await server.close()
      }
    })

    test('a waiting request times out with ERR_BEAMLINE_QUEUE_TIMEOUT and frees nothing', async () => {
      const gate = await startGate()
      const b = bulkhead({ maxConcurrent: 1, maxQueued: 5, queueTimeoutMs: 300 })
      const agent = new undici.Agent().compose(b)
      try {
        const first = agent.request({ origin: gate.origin, path: '/held', method: 'GET' })
        await gate.waitFor(1)
        const start = performance.now()
        const waiting = Array.from({ length: 3 }, () =>
          agent.request({ origin: gate.origin, path: '/late', method: 'GET' }).then(
            () => assert.fail('should time out'),
            (err: unknown) => ({ err, ms: performance.now() - start }),
          ),
        )
        assert.equal(keyStats(b.stats(), gate.origin).queued, 3)
        for (const { err, ms } of await Promise.all(waiting)) {
          assert.ok(err instanceof QueueTimeoutError)
          assert.ok(err instanceof BeamlineError)
          assert.ok(err instanceof undici.errors.UndiciError, 'recognised as an undici error')
          assert.equal(err.code, 'ERR_BEAMLINE_QUEUE_TIMEOUT')
          assert.equal(err.name, 'QueueTimeoutError')
          assert.equal(err.key, gate.origin)
          assert.ok(ms >= 250 && ms < 10_000, `timed out after ${ms} ms`)
        }
        const s = keyStats(b.stats(), gate.origin)
        assert.deepEqual([s.active, s.queued, s.timedOut, s.queuedTotal, s.admitted], [1, 0, 3, 3, 1])
        gate.release()
        assert.equal(await (await first).body.text(), 'ok')
        const again = await agent.request({ origin: gate.origin, path: '/again', method: 'GET' })
        assert.equal(await again.body.text(), 'ok')
        assert.equal(gate.seen(), 2, 'timed-out requests never reached the server')
      } finally {
        await agent.close()
        await gate.close()
      }
    })

    test('an aborted waiting request leaves the queue at once and takes no slot', async () => {
      const gate = await startGate()
      const b = bulkhead({ maxConcurrent: 1, maxQueued: 5, queueTimeoutMs: 60_000 })
      const agent = new undici.Agent().compose(b)
      try {
        const first = agent.request({ origin: gate.origin, path: '/held', method: 'GET' })
        await gate.waitFor(1)
        const controllers = [new AbortController(), new AbortController(), new AbortController()]
        const waiting = controllers.map((c, i) =>
          agent
            .request({ origin: gate.origin, path: `/w${i}`, method: 'GET', signal: c.signal })
            .then((r) => r.body.text()),
        )
        const reason = new Error('caller gave up')
        const start = performance.now()
        controllers[1]!.abort(reason)
        await assert.rejects(waiting[1]!, (err) => err === reason)
        assert.ok(performance.now() - start < 1000, 'rejected at once, not at the queue timeout')
        let s = keyStats(b.stats(), gate.origin)
        assert.deepEqual([s.active, s.queued, s.aborted], [1, 2, 1])
        // An already-aborted signal never joins the queue's survivors either.
        const pre = new AbortController()
        pre.abort(reason)
        await assert.rejects(
          agent.request({ origin: gate.origin, path: '/pre', method: 'GET', signal: pre.signal }),
        )
        gate.release()
        assert.equal(await (await first).body.text(), 'ok')
        assert.deepEqual(await Promise.all([waiting[0], waiting[2]]), ['ok', 'ok'])
        s = keyStats(b.stats(), gate.origin)
        assert.equal(s.active, 0)
        assert.equal(s.queued, 0)
        assert.equal(s.admitted, 3)
        assert.equal(gate.seen(), 3)
        assert.equal(s.admitted + s.rejected + s.timedOut + s.aborted, 5, 'every request accounted once')
      } finally {
        await agent.close()
        await gate.close()
      }
    })

    test('a request aborted on the wire gives its slot to the next waiting one', async () => {
      const gate = await startGate()
      const b = bulkhead({ maxConcurrent: 1, maxQueued: 5, queueTimeoutMs: 60_000 })
      const agent = new undici.Agent().compose(b)
      try {
        const ac = new AbortController()
        const first = agent.request({ origin: gate.origin, path: '/a', method: 'GET', signal: ac.signal })
        await gate.waitFor(1)
        const second = agent
          .request({ origin: gate.origin, path: '/b', method: 'GET' })
          .then((r) => r.body.text())
        await sleep(20)
        assert.equal(gate.seen(), 1)
        ac.abort(new Error('stop'))
        await assert.rejects(first)
        while (gate.seen() < 2) await sleep(5) // the waiting request reached the server
        gate.release()
        assert.equal(await second, 'ok')
        const s = keyStats(b.stats(), gate.origin)
        assert.deepEqual([s.active, s.queued, s.admitted, s.aborted], [0, 0, 2, 0])
      } finally {
        await agent.close()
        await gate.close()
      }
    })

    test('maxQueued 0 fails fast; BulkheadFullError follows undici conventions', async () => {
      const gate = await startGate()
      const b = bulkhead({ maxConcurrent: 2, maxQueued: 0 })
      const agent = new undici.Agent().compose(b)
      try {
        const held = [0, 1].map(() => agent.request({ origin: gate.origin, path: '/', method: 'GET' }))
        await gate.waitFor(2)
        const err = await agent
          .request({ origin: gate.origin, path: '/', method: 'GET' })
          .catch((e: unknown) => e)
        assert.ok(err instanceof BulkheadFullError)
        assert.ok(err instanceof undici.errors.UndiciError)
        assert.equal(err.code, 'ERR_BEAMLINE_BULKHEAD_FULL')
        assert.equal(err.name, 'BulkheadFullError')
        assert.equal(err.maxConcurrent, 2)
        // fetch wraps dispatcher failures in a TypeError whose cause is ours.
        const fetchErr = await undici
          .fetch(`${gate.origin}/f`, { dispatcher: agent })
          .catch((e: unknown) => e)
        assert.ok(fetchErr instanceof TypeError)
        assert.ok((fetchErr as Error).cause instanceof BulkheadFullError)
        gate.release()
        await Promise.all(held.map(async (r) => (await r).body.text()))
        assert.equal(keyStats(b.stats(), gate.origin).rejected, 2)
      } finally {
        await agent.close()
        await gate.close()
      }
    })

    test('request, fetch, stream, pipeline and upgrade all pass through a queued slot', async () => {
      const gate = await startGate()
      // One key for both servers, so the held gate request makes every other request wait.
      const b = bulkhead({ maxConcurrent: 1, maxQueued: 10, queueTimeoutMs: 30_000, key: () => 'shared' })
      const agent = new undici.Agent().compose(b)
      try {
        const held = agent.request({ origin: gate.origin, path: '/held', method: 'GET' })
        await gate.waitFor(1)
        const viaRequest = agent
          .request({ origin: fast.origin, path: '/r', method: 'GET' })
          .then((r) => r.body.text())
        const viaFetch = undici.fetch(`${fast.origin}/f`, { dispatcher: agent }).then((r) => r.text())
        const chunks: Buffer[] = []
        const viaStream = agent.stream({ origin: fast.origin, path: '/s', method: 'GET' }, () => {
          return new Writable({
            write(chunk: Buffer, _enc, cb) {
              chunks.push(chunk)
              cb()
            },
          })
        })
        const viaPipeline = new Promise<string>((resolve, reject) => {
          let text = ''
          const duplex = agent.pipeline(
            { origin: fast.origin, path: '/p', method: 'GET' },
            ({ body }) => body,
          )
          duplex.on('data', (c: Buffer) => (text += c))
          duplex.on('end', () => resolve(text))
          duplex.on('error', reject)
          duplex.end()
        })
        const viaUpgrade = undici
          .upgrade(`${fast.origin}/u`, { dispatcher: agent, protocol: 'echo' })
          .then(async ({ socket }) => {
            socket.write('ping')
            const [data] = await once(socket, 'data')
            socket.destroy()
            return String(data)
          })
        // A fetch aborted while it waits leaves the queue too.
        const ac = new AbortController()
        const aborted = undici.fetch(`${fast.origin}/gone`, { dispatcher: agent, signal: ac.signal })
        await sleep(20)
        assert.equal(keyStats(b.stats(), 'shared').queued, 6)
        ac.abort()
        await assert.rejects(aborted, (err: Error) => err.name === 'AbortError')
        assert.equal(keyStats(b.stats(), 'shared').aborted, 1)
        gate.release()
        await (await held).body.text()
        assert.equal(await viaRequest, 'ok /r')
        assert.equal(await viaFetch, 'ok /f')
        await viaStream
        assert.equal(Buffer.concat(chunks).toString(), 'ok /s')
        assert.equal(await viaPipeline, 'ok /p')
        assert.equal(await viaUpgrade, 'ping')
        const s = keyStats(b.stats(), 'shared')
        assert.deepEqual([s.active, s.queued, s.admitted, s.queuedTotal], [0, 0, 6, 6])
      } finally {
        await agent.close()
        await gate.close()
      }
    })

    test('regression: a full bulkhead delivered BulkheadFullError synchronously, inside dispatch', async () => {
      // undici's own interceptors (circuit-breaker) fail a request they refuse in a microtask, after
      // dispatch returned true; ours called onResponseError before dispatch had returned.
      const gate = await startGate()
      const b = bulkhead({ maxConcurrent: 1, maxQueued: 0 })
      const agent = new undici.Agent().compose(b)
      try {
        const held = agent.request({ origin: gate.origin, path: '/', method: 'GET' })
        await gate.waitFor(1)
        const events: string[] = []
        let failed: (err: Error) => void = () => {}
        const error = new Promise<Error>((resolve) => {
          failed = resolve
        })
        const returned = agent.dispatch(
          { origin: gate.origin, path: '/refused', method: 'GET' },
          {
            onRequestStart: () => events.push('start'),
            onResponseError: (_controller, err) => {
              events.push('error')
              failed(err)
            },
          },
        )
        events.push(`returned ${returned}`)
        const err = await error
        assert.ok(err instanceof BulkheadFullError)
        assert.deepEqual(events, ['returned true', 'error'])
        assert.equal(keyStats(b.stats(), gate.origin).rejected, 1)
        gate.release()
        await (await held).body.text()
      } finally {
        gate.release()
        await agent.close()
        await gate.close()
      }
    })

    test('regression: fetch lost its response timing through the bulkhead (onResponseStarted not forwarded)', async () => {
      // undici's DecoratorHandler does not forward onResponseStarted, which fetch uses to time the
      // response (PerformanceResourceTiming.responseStart); the bulkhead forwards it.
      const b = bulkhead({ maxConcurrent: 4 })
      const agent = new undici.Agent().compose(b)
      try {
        const url = `${fast.origin}/timed-${Math.random()}`
        // fetch marks the entry after the body's end, a few ticks after text() resolves.
        const marked = new Promise<PerformanceResourceTiming>((resolve) => {
          const observer = new PerformanceObserver((list) => {
            const entry = list.getEntriesByName(url)[0]
            if (entry === undefined) return
            observer.disconnect()
            resolve(entry as PerformanceResourceTiming)
          })
          observer.observe({ type: 'resource' })
        })
        const res = await undici.fetch(url, { dispatcher: agent })
        assert.equal(await res.text(), `ok ${new URL(url).pathname}`)
        // @types/node does not declare responseStart; toJSON() carries every field.
        const { responseStart } = (await marked).toJSON() as { responseStart: number }
        assert.ok(responseStart > 0, `responseStart ${responseStart}`)
      } finally {
        await agent.close()
      }
    })

    test('key cardinality is bounded: busy keys share the (other) key, idle ones are evicted', async () => {
      assert.equal(OTHER_KEY, '(other)')
      assert.equal(OVERFLOW_KEY, OTHER_KEY) // the former name, kept for compatibility
      const gate = await startGate()
      const b = bulkhead({ maxConcurrent: 4, maxKeys: 1 })
      const agent = new undici.Agent().compose(b)
      try {
        const held = agent.request({ origin: gate.origin, path: '/', method: 'GET' })
        await gate.waitFor(1)
        const r = await agent.request({ origin: fast.origin, path: '/x', method: 'GET' })
        assert.equal(await r.body.text(), 'ok /x')
        assert.deepEqual(
          b.stats().map((s) => s.key),
          [gate.origin, OTHER_KEY],
        )
        gate.release()
        await (await held).body.text()
        await (await agent.request({ origin: fast.origin, path: '/y', method: 'GET' })).body.text()
        assert.deepEqual(
          b.stats().map((s) => s.key),
          [fast.origin, OTHER_KEY],
        )
        assert.equal(keyStats(b.stats(), OTHER_KEY).admitted, 1)
      } finally {
        await agent.close()
        await gate.close()
      }
    })
  })
}
