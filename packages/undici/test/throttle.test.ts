/*
 * Invariants, against a real server that fails a set fraction of the requests reaching it:
 * - After every request, the throttle's window holds exactly the outcomes the client observed:
 *   requests = answered + refused locally, accepts = answered with neither 5xx nor 429, and
 *   probability = max(0, (requests − k·accepts) / (requests + 1)).
 * - Each request is refused with the probability in force when it arrived: the number refused stays
 *   within 5 standard deviations of Σ pᵢ (a binomial sum; a false failure has odds below 1e-6).
 * - Client aborts and local bulkhead refusals count neither as requests nor as accepts.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { adaptiveThrottle, bulkhead, InvalidOptionError, ThrottledError } from '@beamline/undici'
import { answerAt, majors, sleep, startGate, startServer, type TestServer, type Undici } from './helpers.js'

test('bad options are refused with ERR_BEAMLINE_INVALID_OPTION', () => {
  for (const options of [
    { k: 0.5 },
    { k: 0 },
    { k: Number.NaN },
    { windowMs: 0 },
    { windowMs: -1 },
    { windowMs: 1000, bucketMs: 2000 },
    { windowMs: 100_000, bucketMs: 1 },
    { maxKeys: 1.5 },
    { key: 42 },
  ]) {
    assert.throws(
      () => adaptiveThrottle(options as never),
      (err: unknown) => err instanceof InvalidOptionError && err.code === 'ERR_BEAMLINE_INVALID_OPTION',
      JSON.stringify(options),
    )
  }
})

test('regression: a window of years with the default bucketMs stays at most 10 000 buckets per key', () => {
  // The default step was 1 s whatever the window, so windowMs 1e12 meant a 16 GB bucket array per key.
  const dispatch = adaptiveThrottle({ windowMs: 1e12 })(answerAt(200))
  const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers
  for (let i = 0; i < 10; i++) {
    dispatch(
      { origin: `http://h${i}.test`, path: '/', method: 'GET' },
      {
        onResponseError(_c, err) {
          throw err
        },
      },
    )
  }
  const grown = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - before
  assert.ok(grown < 20 * 2 ** 20, `10 keys took ${(grown / 2 ** 20).toFixed(1)} MiB`)
})

test('regression: a throttled request got ThrottledError synchronously, inside dispatch', async () => {
  // undici's own interceptors (circuit-breaker) fail a request they refuse in a microtask, after
  // dispatch returned true; ours called onResponseError before dispatch had returned.
  const dispatch = adaptiveThrottle({ k: 1 })(answerAt(503))
  let refusals = 0
  // Every answer is a 503, so the refusal probability climbs towards 1: 1000 tries all but ensure some.
  for (let i = 0; i < 1000 && refusals < 5; i++) {
    let inside = true
    let where = ''
    const outcome = new Promise<Error | null>((resolve) => {
      const returned = dispatch(
        { origin: 'http://throttled.test', path: '/', method: 'GET' },
        {
          onResponseEnd: () => resolve(null),
          onResponseError(_c, err) {
            where = inside ? 'inside dispatch' : 'after dispatch'
            resolve(err)
          },
        },
      )
      assert.equal(returned, true)
    })
    inside = false
    const err = await outcome
    if (err === null) continue // answered (503), not refused
    assert.ok(err instanceof ThrottledError)
    assert.equal(where, 'after dispatch')
    refusals++
  }
  assert.ok(refusals > 0, 'some requests were refused')
})

/** Fails every request whose sequence number is not a multiple of `every` with `status`. */
async function failingServer(every: number, status = 503): Promise<TestServer> {
  let n = 0
  return startServer((_req, res) => {
    res.statusCode = n++ % every === 0 ? 200 : status
    res.end()
  })
}

for (const major of majors) {
  describe(`adaptiveThrottle with ${major.name}`, () => {
    let undici: Undici
    before(async () => {
      undici = await major.load()
    })

    async function run(k: number, every: number, total: number, status = 503) {
      const server = await failingServer(every, status)
      const throttle = adaptiveThrottle({ k })
      const agent = new undici.Agent().compose(throttle)
      let requests = 0
      let accepts = 0
      let refused = 0
      let expected = 0
      let variance = 0
      try {
        for (let i = 0; i < total; i++) {
          const p = throttle.stats()[0]?.probability ?? 0
          expected += p
          variance += p * (1 - p)
          try {
            const r = await agent.request({ origin: server.origin, path: '/', method: 'GET' })
            await r.body.dump()
            if (r.statusCode === 200) accepts++
          } catch (err) {
            assert.ok(err instanceof ThrottledError, String(err))
            assert.ok(err instanceof undici.errors.UndiciError)
            assert.equal(err.code, 'ERR_BEAMLINE_THROTTLED')
            assert.equal(err.probability, p)
            refused++
          }
          requests++
          const s = throttle.stats()[0]!
          assert.equal(s.requests, requests)
          assert.equal(s.accepts, accepts)
          assert.equal(s.throttled, refused)
          assert.equal(s.probability, Math.max(0, (requests - k * accepts) / (requests + 1)))
        }
        return { refused, expected, sd: Math.sqrt(variance), served: server.seen() }
      } finally {
        await agent.close()
        await server.close()
      }
    }

    test('the rejection rate follows max(0, (requests − k·accepts) / (requests + 1))', async () => {
      // The backend accepts 1 in 4; with k = 2 that is below 1/k, so the client backs off hard.
      const { refused, expected, sd, served } = await run(2, 4, 400)
      assert.ok(
        Math.abs(refused - expected) <= 5 * sd + 1,
        `refused ${refused}, expected ${expected.toFixed(1)} ± ${sd.toFixed(1)}`,
      )
      assert.ok(refused > 200, `a backend that accepts 25% is mostly spared (refused ${refused} of 400)`)
      assert.equal(served, 400 - refused, 'refused requests never reach the server')
    })

    test('429 counts as a rejection; a backend accepting more than 1/k is never throttled', async () => {
      const throttled = await run(2, 4, 200, 429)
      assert.ok(Math.abs(throttled.refused - throttled.expected) <= 5 * throttled.sd + 1)
      assert.ok(throttled.refused > 50)
      // Half accepted with k = 3: requests − 3·accepts stays ≤ 0 (up to the first request), so nothing is refused after warm-up.
      const spared = await run(3, 2, 200)
      assert.ok(spared.refused <= 1, `refused ${spared.refused}`)
    })

    test('connection failures count as rejections; the window slides', async () => {
      const dead = await startServer(() => {})
      const origin = dead.origin
      await dead.close() // nothing listens there any more: ECONNREFUSED
      const throttle = adaptiveThrottle({ windowMs: 400, bucketMs: 100 })
      const agent = new undici.Agent().compose(throttle)
      try {
        for (let i = 0; i < 5; i++) {
          await assert.rejects(agent.request({ origin, path: '/', method: 'GET' }))
        }
        const s = throttle.stats()[0]!
        assert.equal(s.accepts, 0)
        assert.equal(s.requests, 5)
        assert.ok(s.probability > 0.8)
        await sleep(600)
        assert.deepEqual(
          throttle.stats().map((x) => [x.requests, x.accepts, x.probability]),
          [[0, 0, 0]],
        )
      } finally {
        await agent.close()
      }
    })

    test('regression: windowed counts exported as counters fall when the window slides (issue 15 #4)', async () => {
      // `requests` and `accepts` are the window's, so they fall as it slides: they were exported as
      // `_total` counters, which Prometheus read as resets. The totals beside them never fall.
      const server = await startServer((_req, res) => {
        res.statusCode = 503
        res.end()
      })
      const throttle = adaptiveThrottle({ windowMs: 300, bucketMs: 100 })
      const agent = new undici.Agent().compose(throttle)
      try {
        let refused = 0
        for (let i = 0; i < 20; i++) {
          try {
            await (await agent.request({ origin: server.origin, path: '/', method: 'GET' })).body.text()
          } catch (err) {
            if ((err as { code?: string }).code === 'ERR_BEAMLINE_THROTTLED') refused++
            else throw err
          }
        }
        const before = throttle.stats()[0]!
        assert.equal(before.requestsTotal, 20)
        assert.equal(before.acceptsTotal, 0)
        assert.equal(before.throttled, refused)
        await sleep(500)
        const after = throttle.stats()[0]!
        assert.equal(after.requests, 0)
        assert.deepEqual([after.requestsTotal, after.acceptsTotal, after.throttled], [20, 0, refused])
      } finally {
        await agent.close()
        await server.close()
      }
    })

    test('client aborts and bulkhead refusals are not counted as backend rejections', async () => {
      const gate = await startGate()
      const throttle = adaptiveThrottle()
      // compose(a, b): b wraps a, so the throttle sees what the bulkhead refuses.
      const agent = new undici.Agent().compose(bulkhead({ maxConcurrent: 1, maxQueued: 1 }), throttle)
      try {
        const ac = new AbortController()
        const held = agent.request({ origin: gate.origin, path: '/', method: 'GET', signal: ac.signal })
        await gate.waitFor(1)
        const queued = new AbortController()
        const waiting = agent.request({
          origin: gate.origin,
          path: '/',
          method: 'GET',
          signal: queued.signal,
        })
        await assert.rejects(agent.request({ origin: gate.origin, path: '/', method: 'GET' }), {
          code: 'ERR_BEAMLINE_BULKHEAD_FULL',
        })
        queued.abort()
        await assert.rejects(waiting)
        ac.abort()
        await assert.rejects(held)
        assert.deepEqual(
          throttle.stats().map((x) => [x.requests, x.accepts]),
          [[0, 0]],
        )
        gate.release()
        await (await agent.request({ origin: gate.origin, path: '/', method: 'GET' })).body.text()
        assert.deepEqual(
          throttle.stats().map((x) => [x.requests, x.accepts]),
          [[1, 1]],
        )
      } finally {
        await agent.close()
        await gate.close()
      }
    })
  })
}

describe('adaptiveThrottle with fetch', () => {
  let server: TestServer
  before(async () => {
    server = await failingServer(1_000_000) // the first request succeeds, every later one fails
  })
  after(() => server.close())

  test('fetch responses are classified; a refusal reaches fetch as its cause', async () => {
    const undici = await majors[0]!.load()
    const throttle = adaptiveThrottle({ k: 1 })
    const agent = new undici.Agent().compose(throttle)
    try {
      let refusal: unknown
      for (let i = 0; i < 50 && refusal === undefined; i++) {
        await undici.fetch(server.origin, { dispatcher: agent }).then(
          (r) => r.arrayBuffer(),
          (err: Error) => (refusal = err.cause),
        )
      }
      assert.ok(refusal instanceof ThrottledError)
      assert.equal(throttle.stats()[0]!.accepts, 1)
    } finally {
      await agent.close()
    }
  })
})
