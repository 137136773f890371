/*
 * Invariants of bulkhead({ maxConcurrent: 'adaptive' }), against real node:http origins:
 *  - each key has its own adaptive limit: an origin that fails under load (503 beyond its capacity)
 *    drives its own limit down, and a healthy origin next to it keeps its own;
 *  - at every moment the Agent holds at most the key's maxLimit requests of it (measured under the
 *    bulkhead), and the accounting stays exact: admitted = what the origins saw;
 *  - an origin whose latency grows with concurrency, and never fails, holds the limit near its knee
 *    from below (a limit that starts under the knee grows only while latency allows);
 *  - bad adaptive options are refused at bulkhead() time, named under maxConcurrent.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { bulkhead, InvalidOptionError } from '@beamline/undici'
import type { Dispatcher } from 'undici'
import { majors, outcomes, startServer, type TestServer, type Undici, wireCounter } from './helpers.js'

test('bad adaptive options are refused at construction, named under maxConcurrent', () => {
  for (const [options, option] of [
    [{ algorithm: 'bbr' }, 'maxConcurrent.algorithm'],
    [{ minLimit: 0 }, 'maxConcurrent.minLimit'],
    [{ minLimit: 10, maxLimit: 5 }, 'maxConcurrent.minLimit'],
    [{ now: 1 }, 'maxConcurrent.now'],
  ] as const) {
    assert.throws(
      () => bulkhead({ maxConcurrent: options as never }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === option,
      option,
    )
  }
  assert.throws(() => bulkhead({ maxConcurrent: 'auto' as never }), { option: 'maxConcurrent' })
})

/** An origin that serves `capacity` requests at once in `ms` each and answers 503 beyond that. */
async function fragileOrigin(capacity: number, ms: number) {
  let current = 0
  let refused = 0
  const server = await startServer((_req, res) => {
    if (current >= capacity) {
      refused++
      res.writeHead(503).end('busy')
      return
    }
    current++
    setTimeout(() => {
      current--
      res.end('ok')
    }, ms)
  })
  return { ...server, refused: () => refused }
}

/** Runs `n` requests through `agent` to `origin`, `lanes` at a time; returns the status codes. */
async function drive(agent: Pick<Dispatcher, 'request'>, origin: string, n: number, lanes: number) {
  const statuses: number[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < n) {
        const i = next++
        const res = await agent.request({ origin, path: `/${i}`, method: 'GET' })
        await res.body.dump()
        statuses.push(res.statusCode)
      }
    }),
  )
  return statuses
}

for (const major of majors) {
  describe(`adaptive bulkhead with ${major.name}`, () => {
    let undici: Undici
    let healthy: TestServer
    before(async () => {
      undici = await major.load()
      healthy = await startServer((_req, res) => res.end('ok'))
    })
    after(() => healthy.close())

    test('an origin failing under load drives its own limit down; the healthy one keeps its own', async () => {
      const fragile = await fragileOrigin(4, 20)
      const b = bulkhead({ maxConcurrent: { maxLimit: 20 }, maxQueued: 10_000, queueTimeoutMs: 60_000 })
      const wire = wireCounter()
      const agent = new undici.Agent({ connections: 64 }).compose(wire.interceptor as never, b)
      try {
        const [bad, good] = await Promise.all([
          drive(agent, fragile.origin, 800, 64),
          drive(agent, healthy.origin, 400, 16),
        ])
        assert.ok(bad.includes(503), 'the fragile origin never refused: the test did not overload it')
        assert.ok(
          good.every((s) => s === 200),
          'the healthy origin failed',
        )
        const stats = b.stats()
        const f = stats.find((s) => s.key === fragile.origin)!
        const h = stats.find((s) => s.key === healthy.origin)!
        assert.ok(f.limit < 20, `the fragile origin's limit stayed at ${f.limit}`)
        // Its own limit may dip (a probe below a steady limit, noise in its RTTs on a loaded machine),
        // but not towards the fragile one's, and it refused none of its requests.
        assert.ok(h.limit > f.limit, `the healthy origin's limit was dragged down to ${h.limit}`)
        assert.deepEqual([h.rejected, h.timedOut, h.admitted], [0, 0, 400])
        assert.ok(wire.peak() <= 20 + 20, `the Agent held ${wire.peak()} requests (two keys of at most 20)`)
        assert.equal(f.admitted, fragile.seen())
        assert.equal(f.admitted + f.rejected + f.timedOut + f.aborted, 800)
        assert.equal(f.active + f.queued, 0)
      } finally {
        await agent.close()
        await fragile.close()
      }
    })
  })
}

test('an origin slowing with concurrency: a limit started under its knee grows only while latency allows', async () => {
  const undici = await majors[0]!.load()
  let current = 0
  let peak = 0
  // 10 ms alone; beyond 4 at once, every request takes proportionally longer (processor sharing).
  const origin = await startServer((_req, res) => {
    current++
    peak = Math.max(peak, current)
    setTimeout(
      () => {
        current--
        res.end('ok')
      },
      10 * Math.max(1, current / 4),
    )
  })
  const b = bulkhead({
    maxConcurrent: { initialLimit: 2, maxLimit: 64 },
    maxQueued: 10_000,
    queueTimeoutMs: 60_000,
  })
  const agent = new undici.Agent({ connections: 64 }).compose(b)
  try {
    const { codes } = await outcomes([drive(agent, origin.origin, 3_000, 64)])
    assert.deepEqual(codes, [])
    const s = b.stats().find((x) => x.key === origin.origin)!
    assert.ok(s.limit >= 2, `limit ${s.limit}`)
    assert.ok(s.limit <= 16, `the limit grew to ${s.limit} on an origin whose knee is 4`)
    assert.ok(peak <= 64)
  } finally {
    await agent.close()
    await origin.close()
  }
})
