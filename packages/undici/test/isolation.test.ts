/*
 * Invariant: with per-origin bulkheads, a slow origin saturated far beyond its limits does not delay
 * requests to a fast origin: every fast request completes well before the slow origin answers its
 * first request. The control run shares one key between the origins and shows the same load does
 * delay the fast origin (so the first assertion can fail).
 * Bounds are generous (fast < 1 s against a slow origin that takes 1.5 s) for a shared 2-core CI box.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { bulkhead } from '@beamline/undici'
import { majors, outcomes, startServer, type TestServer, type Undici } from './helpers.js'

const SLOW_MS = 1500
const FLOOD = 300

for (const major of majors) {
  describe(`head-of-line isolation with ${major.name}`, () => {
    let undici: Undici
    let slow: TestServer
    let fast: TestServer
    let firstSlowAnswer = Number.POSITIVE_INFINITY
    before(async () => {
      undici = await major.load()
      slow = await startServer((_req, res) => {
        setTimeout(() => {
          firstSlowAnswer = Math.min(firstSlowAnswer, performance.now())
          res.end('slow')
        }, SLOW_MS)
      })
      fast = await startServer((_req, res) => res.end('fast'))
    })
    after(async () => {
      await slow.close()
      await fast.close()
    })

    test('a saturated slow origin does not change the latency of a fast one', async () => {
      firstSlowAnswer = Number.POSITIVE_INFINITY
      const b = bulkhead({ maxConcurrent: 10, maxQueued: 20, queueTimeoutMs: 10_000 })
      const agent = new undici.Agent().compose(b)
      try {
        const flood = outcomes(
          Array.from({ length: FLOOD }, () =>
            agent.request({ origin: slow.origin, path: '/', method: 'GET' }).then((r) => r.body.text()),
          ),
        )
        const latencies: number[] = []
        for (let i = 0; i < 30; i++) {
          const start = performance.now()
          const r = await agent.request({ origin: fast.origin, path: '/', method: 'GET' })
          assert.equal(await r.body.text(), 'fast')
          latencies.push(performance.now() - start)
        }
        const fastDone = performance.now()
        const worst = Math.max(...latencies)
        assert.ok(worst < 1000, `slowest fast-origin request took ${worst.toFixed(1)} ms`)
        assert.ok(
          fastDone < firstSlowAnswer,
          'every fast request finished before the slow origin answered once',
        )
        const { ok, codes } = await flood
        assert.equal(ok.length, 30, 'slow origin: 10 in flight + 20 queued were served, in 3 rounds')
        assert.equal(codes.length, FLOOD - 30)
        const slowStats = b.stats().find((s) => s.key === slow.origin)!
        assert.equal(slowStats.rejected, FLOOD - 30)
        assert.equal(
          b.stats().find((s) => s.key === fast.origin)!.queuedTotal,
          0,
          'the fast origin never waited',
        )
      } finally {
        await agent.close()
      }
    })

    test('control: one key shared by both origins puts the fast one behind the slow one', async () => {
      const b = bulkhead({ maxConcurrent: 10, maxQueued: 100, queueTimeoutMs: 500, key: () => 'shared' })
      const agent = new undici.Agent().compose(b)
      try {
        const flood = outcomes(
          Array.from({ length: 20 }, () =>
            agent.request({ origin: slow.origin, path: '/', method: 'GET' }).then((r) => r.body.text()),
          ),
        )
        const start = performance.now()
        const err = await agent
          .request({ origin: fast.origin, path: '/', method: 'GET' })
          .catch((e: unknown) => e)
        assert.equal((err as { code?: string }).code, 'ERR_BEAMLINE_QUEUE_TIMEOUT')
        assert.ok(performance.now() - start >= 450, 'the fast request waited behind the slow ones')
        await flood
      } finally {
        await agent.close()
      }
    })
  })
}
