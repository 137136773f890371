/*
 * Invariants, against real node:http / express / fastify servers and a real undici client:
 *  - level 0 admits everything; at shed every request that is not exempt or critical gets 503 with
 *    Retry-After and a JSON body naming level and reason; exempt paths always pass;
 *  - at throttle the refusal rate of priority p is score × (1 − p/2) within statistical tolerance;
 *  - shedStats() counts exactly the 503s the client saw, per route, with a bounded route set.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import express from 'express'
import Fastify from 'fastify'
import { Pool } from 'undici'
import { fastifyShedder, httpShedder, readyzHandler } from '../src/index.js'
import { driven } from './fixtures/driven.js'

async function listen(handler: RequestListener): Promise<{ server: Server; pool: Pool }> {
  const server = createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return { server, pool: new Pool(`http://127.0.0.1:${port}`, { connections: 16 }) }
}

async function get(pool: Pool, path: string, priority = 0) {
  const res = await pool.request({ path, method: 'GET', headers: { 'x-priority': String(priority) } })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text }
}

/** Fires `n` requests, at most 64 in flight, and returns the count of 503s. */
async function refusals(
  pool: Pool,
  n: number,
  path: (i: number) => string,
  priority: number,
): Promise<number> {
  let refused = 0
  let next = 0
  const lane = async () => {
    while (next < n) {
      const i = next++
      const { status } = await get(pool, path(i), priority)
      if (status === 503) refused++
      else assert.equal(status, 200)
    }
  }
  await Promise.all(Array.from({ length: 64 }, lane))
  return refused
}

describe('httpShedder on node:http', () => {
  const { monitor, step } = driven({ coolDownMs: 0 })
  let server: Server
  let pool: Pool
  const seen = { a: 0, b: 0 }
  before(async () => {
    const guard = httpShedder(monitor, {
      retryAfterSeconds: 7,
      priority: (req) => Number(req.headers['x-priority'] ?? 0),
    })
    const readyz = readyzHandler(monitor)
    ;({ server, pool } = await listen((req, res) =>
      guard(req, res, () => (req.url === '/readyz' ? readyz(req, res) : res.end('ok'))),
    ))
  })
  after(async () => {
    await pool.close()
    server.close()
    monitor.stop()
  })

  it('admits everything at level 0', async () => {
    step({ queuedMessages: 0 })
    assert.equal(await refusals(pool, 300, (i) => `/users/${i}`, 0), 0)
    assert.equal((await get(pool, '/readyz')).status, 200)
  })

  it('answers 503 with Retry-After and a body naming level and reason at shed; exempt and critical pass', async () => {
    step({ queuedMessages: 5_000 })
    const refused = await get(pool, '/users/42?q=1')
    assert.equal(refused.status, 503)
    assert.equal(refused.headers['retry-after'], '7')
    assert.equal(refused.headers['content-type'], 'application/json; charset=utf-8')
    assert.deepEqual(JSON.parse(refused.text), {
      error: 'overloaded',
      level: 2,
      reason: 'queuedMessages',
      retryAfterSeconds: 7,
    })
    assert.equal((await get(pool, '/healthz')).status, 200)
    assert.equal((await get(pool, '/livez?verbose')).status, 200)
    assert.equal((await get(pool, '/users/42', 2)).status, 200, 'critical priority passes at shed')
    const readyz = await get(pool, '/readyz')
    assert.equal(readyz.status, 503, 'readyz is not exempt by default, and reports not ready')
    assert.equal(await refusals(pool, 200, (i) => `/orders/${i}`, 1), 200, 'all non-critical refused at shed')
  })

  it('refuses with probability score × (1 − priority/2) at throttle', async () => {
    // queuedMessages thresholds [100, 1000]: 550 is score 0.5, level 1.
    step({ queuedMessages: 550 })
    assert.equal(monitor.level, 1)
    assert.equal(monitor.score, 0.5)
    const n = 2_000
    seen.a = await refusals(pool, n, (i) => `/a/${i}`, 0)
    seen.b = await refusals(pool, n, (i) => `/b/${i}`, 1)
    const low = seen.a / n
    const normal = seen.b / n
    const critical = (await refusals(pool, 500, (i) => `/c/${i}`, 2)) / 500
    // 2000 Bernoulli trials: σ ≤ 0.0112; ±0.06 is more than 5σ.
    assert.ok(Math.abs(low - 0.5) < 0.06, `low priority refused ${low}`)
    assert.ok(Math.abs(normal - 0.25) < 0.06, `normal priority refused ${normal}`)
    assert.equal(critical, 0)
    step({ queuedMessages: 820 })
    const refusedHigher = await refusals(pool, n, (i) => `/a/${i}`, 0)
    seen.a += refusedHigher
    const higher = refusedHigher / n
    assert.ok(Math.abs(higher - 0.8) < 0.06, `refusals grow with score: ${higher}`)
  })

  it('counts every refusal by route and reason, exactly as the client saw them', () => {
    const byRoute = new Map(monitor.shedStats().map((s) => [`${s.route} ${s.reason}`, s.count]))
    assert.equal(byRoute.get('/users queuedMessages'), 1)
    assert.equal(byRoute.get('/orders queuedMessages'), 200)
    assert.equal(byRoute.get('/a queuedMessages'), seen.a)
    assert.equal(byRoute.get('/b queuedMessages'), seen.b)
    assert.equal(byRoute.has('/healthz queuedMessages'), false)
    assert.equal(byRoute.has('/c queuedMessages'), false)
    for (const s of monitor.shedStats()) assert.equal(s.reason, 'queuedMessages')
  })
})

describe('route labels', () => {
  it('stay bounded: maxRoutes distinct routes, then other; the counts still add up', async () => {
    const { monitor, step } = driven({ maxRoutes: 5 })
    step({ queuedMessages: 5_000 })
    const guard = httpShedder(monitor)
    const { server, pool } = await listen((req, res) => guard(req, res, () => res.end('ok')))
    try {
      const refused = await refusals(pool, 400, (i) => `/r${i % 20}/${i}`, 0)
      assert.equal(refused, 400)
      const stats = monitor.shedStats()
      assert.ok(stats.length <= 6, `${stats.length} labels`)
      assert.ok(stats.some((s) => s.route === 'other'))
      assert.equal(
        stats.reduce((sum, s) => sum + s.count, 0),
        400,
      )
      // Ids never become labels.
      const labels = new Set(stats.map((s) => s.route))
      for (const label of labels) assert.match(label, /^(\/r\d+|other)$/)
    } finally {
      await pool.close()
      server.close()
      monitor.stop()
    }
  })
})

describe('express and fastify', () => {
  it('httpShedder sheds in an express app', async () => {
    const { monitor, step } = driven()
    const app = express()
    app.use(httpShedder(monitor, { retryAfterSeconds: 3 }))
    app.get('/items/:id', (_req, res) => res.send('item'))
    app.get('/healthz', (_req, res) => res.send('up'))
    const { server, pool } = await listen(app)
    try {
      assert.equal((await get(pool, '/items/1')).status, 200)
      step({ longestQueue: 600 })
      const refused = await get(pool, '/items/1')
      assert.equal(refused.status, 503)
      assert.equal(refused.headers['retry-after'], '3')
      assert.equal(JSON.parse(refused.text).reason, 'longestQueue')
      assert.equal((await get(pool, '/healthz')).text, 'up')
      assert.deepEqual(monitor.shedStats(), [{ route: '/items', reason: 'longestQueue', count: 1 }])
    } finally {
      await pool.close()
      server.close()
      monitor.stop()
    }
  })

  it('fastifyShedder sheds in fastify and labels refusals with the route pattern', async () => {
    const { monitor, step } = driven()
    const app = Fastify()
    await app.register(fastifyShedder, { pressure: monitor, exempt: ['/healthz', /^\/internal\//] })
    app.get('/items/:id', async () => 'item')
    app.get('/internal/metrics', async () => 'metrics')
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    const pool = new Pool(`http://127.0.0.1:${port}`)
    try {
      assert.equal((await get(pool, '/items/7')).status, 200)
      step({ gcFraction: 0.3 })
      const refused = await get(pool, '/items/7')
      assert.equal(refused.status, 503)
      assert.equal(refused.headers['retry-after'], '5')
      assert.deepEqual(JSON.parse(refused.text), {
        error: 'overloaded',
        level: 2,
        reason: 'gcFraction',
        retryAfterSeconds: 5,
      })
      assert.equal((await get(pool, '/internal/metrics')).status, 200, 'RegExp exemption')
      assert.deepEqual(monitor.shedStats(), [{ route: '/items/:id', reason: 'gcFraction', count: 1 }])
    } finally {
      await pool.close()
      await app.close()
      monitor.stop()
    }
  })
})
