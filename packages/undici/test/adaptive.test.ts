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
import {
  answerAt,
  majors,
  outcomes,
  startServer,
  type TestServer,
  type Undici,
  wireCounter,
} from './helpers.js'

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

/**
 * Runs requests through `agent` to `origin`, `lanes` at a time, while `more(sent)` says so (a count,
 * or a time); returns the status codes.
 */
async function drive(
  agent: Pick<Dispatcher, 'request'>,
  origin: string,
  more: (sent: number) => boolean,
  lanes: number,
) {
  const statuses: number[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (more(next)) {
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
      // The lowest limit each key reached while loaded: a key's final limit says little, since the last
      // requests of a run go out at low concurrency and let a limit grow back.
      const lowest = new Map<string, number>()
      const sample = setInterval(() => {
        for (const s of b.stats())
          if (s.limit !== undefined) lowest.set(s.key, Math.min(lowest.get(s.key) ?? s.limit, s.limit))
      }, 1)
      try {
        // The fragile origin for 1.5 s: a limit moves once per 100 ms window, and 800 requests (the
        // first version) took 0.3 s, 3 windows, in which the limit fell only to 14–18 of 20, so a
        // healthy origin's noise dip (to 16) once crossed it in CI.
        const until = performance.now() + 1500
        const [bad, good] = await Promise.all([
          drive(agent, fragile.origin, () => performance.now() < until, 64),
          drive(agent, healthy.origin, (sent) => sent < 400, 16),
        ])
        clearInterval(sample)
        assert.ok(bad.includes(503), 'the fragile origin never refused: the test did not overload it')
        assert.ok(
          good.every((s) => s === 200),
          'the healthy origin failed',
        )
        const stats = b.stats()
        const f = stats.find((s) => s.key === fragile.origin)!
        const h = stats.find((s) => s.key === healthy.origin)!
        const fLow = lowest.get(fragile.origin)!
        const hLow = lowest.get(healthy.origin)!
        assert.ok(fLow < 20, `the fragile origin's limit stayed at ${fLow}`)
        // Its own limit may dip (a probe below a steady limit, noise in its RTTs on a loaded machine),
        // but not as low as the fragile one's, and it refused none of its requests.
        assert.ok(
          hLow > fLow,
          `the healthy origin's limit was dragged down to ${hLow} (the fragile one's: ${fLow})`,
        )
        assert.deepEqual([h.rejected, h.timedOut, h.admitted], [0, 0, 400])
        assert.ok(wire.peak() <= 20 + 20, `the Agent held ${wire.peak()} requests (two keys of at most 20)`)
        assert.equal(f.admitted, fragile.seen())
        assert.equal(f.admitted + f.rejected + f.timedOut + f.aborted, bad.length)
        assert.equal(f.active + f.queued, 0)
      } finally {
        clearInterval(sample)
        await agent.close()
        await fragile.close()
      }
    })
  })
}

test('regression: a long key of emoji made dispatch throw (its limit name was cut inside a surrogate pair)', () => {
  // The name `undici:<key>` is cut to 200 UTF-8 bytes; cut one UTF-16 unit at a time it could end on a
  // lone surrogate, which @beamline/limit refuses: the first request of such a key threw
  // ERR_BEAMLINE_INVALID_OPTION out of dispatch.
  for (const key of [`ab${'\u{1F600}'.repeat(60)}`, `a${'\u{1F600}'.repeat(60)}`, '\uD800 lone']) {
    const b = bulkhead({ maxConcurrent: 'adaptive', key: () => key })
    let answered = 0
    b(answerAt(200))(
      { origin: 'http://x.test', path: '/', method: 'GET' },
      { onResponseEnd: () => answered++ },
    )
    assert.equal(answered, 1, JSON.stringify(key))
    assert.equal(b.stats()[0]!.key, key)
  }
})

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
    const { codes } = await outcomes([drive(agent, origin.origin, (sent) => sent < 3_000, 64)])
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
