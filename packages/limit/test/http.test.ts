/// <reference path="../../pressure/test/types/express.d.ts" />
/*
 * Invariants, against real node:http / express / fastify servers and a real undici client:
 *  - the server's handler never runs more requests at once than the limit;
 *  - at the limit without a queue a request gets 503, Retry-After and a JSON body naming the
 *    reason, before any of the application's work; exempt paths always pass;
 *  - a response that finished is a success (an RTT sample), a 5xx the application sent is a drop, a
 *    client that went away first is ignored — and each request is counted exactly once;
 *  - the queue behind a real server: first come first served until its oldest waiter has waited
 *    longer than targetMs, then the newest first (adaptive LIFO); once it has not been empty for
 *    intervalMs, waiters older than targetMs are refused with 503 `timeout` (CoDel); a client that
 *    leaves while queued leaves the queue. The limit's clock is simulated,
 *    so the order is deterministic whatever the machine's load.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it, test } from 'node:test'
import express from 'express'
import Fastify from 'fastify'
import { Pool } from 'undici'
import { AdaptiveLimit, type AdaptiveLimitOptions, fastifyLimiter, httpLimiter } from '../src/index.js'

async function listen(
  handler: RequestListener,
): Promise<{ server: Server; pool: Pool; close(): Promise<void> }> {
  const server = createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 16 })
  return {
    server,
    pool,
    async close() {
      await pool.close()
      server.closeAllConnections()
      server.close()
    },
  }
}

async function get(pool: Pool, path: string, signal?: AbortSignal) {
  const res = await pool.request({ path, method: 'GET', signal })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text }
}

/** Waits (without asserting any timing) until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 2_000) throw new Error(`never: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * A handler that answers `?status=` (default 200), holding `?hold` requests until released, and
 * records the order requests reached it in (`?id=`) and how many ran at once.
 */
function gate() {
  const held = new Map<string, () => void>()
  const order: string[] = []
  let running = 0
  let peak = 0
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://x')
    const id = url.searchParams.get('id') ?? url.pathname
    const answer = () => res.writeHead(Number(url.searchParams.get('status') ?? 200)).end('ok')
    order.push(id)
    running++
    peak = Math.max(peak, running)
    res.on('close', () => running--)
    if (url.searchParams.has('hold')) held.set(id, answer)
    else answer()
  }
  const release = (id: string) => {
    const answer = held.get(id)!
    held.delete(id)
    answer()
  }
  return { handler, release, order, held, peak: () => peak }
}

describe('httpLimiter on node:http', () => {
  const limit = new AdaptiveLimit({ name: 'http', algorithm: 'fixed', initialLimit: 2, queue: false })
  const counted: string[] = []
  const g = gate()
  let srv: Awaited<ReturnType<typeof listen>>
  before(async () => {
    const limiter = httpLimiter(limit, {
      retryAfterSeconds: 7,
      pressure: { recordShed: (route, reason) => counted.push(`${route} ${reason}`) },
    })
    srv = await listen((req, res) => limiter(req, res, () => g.handler(req, res)))
  })
  after(() => srv.close())

  it('admits up to the limit; beyond it, 503 with Retry-After and the reason, before the handler runs', async () => {
    const a = get(srv.pool, '/work?hold&id=a')
    const b = get(srv.pool, '/work?hold&id=b')
    await until(() => g.held.size === 2, 'two requests held')
    const refused = await get(srv.pool, '/users/42?id=c')
    assert.equal(refused.status, 503)
    assert.equal(refused.headers['retry-after'], '7')
    assert.deepEqual(JSON.parse(refused.text), {
      error: 'overloaded',
      reason: 'limit',
      limit: 'http',
      retryAfterSeconds: 7,
    })
    assert.ok(!g.order.includes('c'), 'the refused request reached the handler')
    assert.equal((await get(srv.pool, '/healthz')).status, 200, 'exempt paths pass at the limit')
    g.release('a')
    g.release('b')
    assert.equal((await a).status, 200)
    assert.equal((await b).status, 200)
    assert.deepEqual(counted, ['/users limit'])
    assert.ok(g.peak() <= 2 + 1, 'the handler ran more than the limit (plus the exempt /healthz)')
  })

  it('a finished response is a success, a 5xx a drop, a client gone first is ignored', async () => {
    const before = limit.stats()
    assert.equal((await get(srv.pool, '/work?id=ok')).status, 200)
    assert.equal((await get(srv.pool, '/work?id=fail&status=503')).status, 503)
    assert.equal((await get(srv.pool, '/work?id=bad&status=404')).status, 404)
    const ac = new AbortController()
    const gone = get(srv.pool, '/work?hold&id=gone', ac.signal).catch((e: Error) => e)
    await until(() => g.held.has('gone'), 'held')
    ac.abort()
    assert.equal(((await gone) as Error).name, 'AbortError')
    await until(() => limit.inFlight === 0, 'the abandoned token returned')
    g.held.delete('gone')
    const s = limit.stats()
    assert.equal(s.succeeded - before.succeeded, 2)
    assert.equal(s.dropped - before.dropped, 1)
    assert.equal(s.ignored - before.ignored, 1)
    assert.equal(s.acquired, s.succeeded + s.dropped + s.ignored)
    assert.equal(s.acquired + s.rejected, 2 + 1 + 4)
  })
})

describe('the queue behind a real server (simulated limit clock)', () => {
  const clock = { t: 0 }
  const options: AdaptiveLimitOptions = {
    name: 'queue',
    algorithm: 'fixed',
    initialLimit: 1,
    queue: { maxWaiters: 10, maxWaitMs: 60_000, codel: { targetMs: 80, intervalMs: 100 } },
    now: () => clock.t,
  }
  const limit = new AdaptiveLimit(options)
  const g = gate()
  let srv: Awaited<ReturnType<typeof listen>>
  before(async () => {
    const limiter = httpLimiter(limit)
    srv = await listen((req, res) => limiter(req, res, () => g.handler(req, res)))
  })
  after(() => srv.close())

  const queued = (n: number) => until(() => limit.stats().queued === n, `${n} queued`)

  it('first come, first served while the queue is not standing', async () => {
    const r0 = get(srv.pool, '/q?hold&id=r0')
    await until(() => g.held.has('r0'), 'r0 running')
    const w1 = get(srv.pool, '/q?hold&id=w1')
    await queued(1)
    clock.t += 10
    const w2 = get(srv.pool, '/q?hold&id=w2')
    await queued(2)
    clock.t += 10
    g.release('r0')
    await until(() => g.held.has('w1'), 'w1 admitted')
    assert.ok(!g.held.has('w2'))
    g.release('w1')
    await until(() => g.held.has('w2'), 'w2 admitted')
    g.release('w2')
    for (const r of [r0, w1, w2]) assert.equal((await r).status, 200)
    assert.deepEqual(g.order.slice(-3), ['r0', 'w1', 'w2'])
  })

  it('once the oldest waited longer than targetMs: newest first; once standing, older ones get 503 timeout', async () => {
    clock.t += 1_000 // the queue has been empty: a fresh busy period
    const r0 = get(srv.pool, '/q?hold&id=s0')
    await until(() => g.held.has('s0'), 's0 running')
    const start = clock.t
    const w1 = get(srv.pool, '/q?hold&id=s1')
    await queued(1)
    clock.t = start + 50
    const w2 = get(srv.pool, '/q?hold&id=s2')
    await queued(2)
    clock.t = start + 90 // s1 has waited 90 > targetMs 80: newest first; the queue has not stood 100 yet
    g.release('s0')
    await until(() => g.held.has('s2'), 's2 admitted before s1')
    assert.ok(!g.held.has('s1'))
    clock.t = start + 110 // standing now, and s1 older than the target: its timer refuses it
    const refused = await w1
    assert.equal(refused.status, 503)
    assert.equal(JSON.parse(refused.text).reason, 'timeout')
    g.release('s2')
    for (const r of [r0, w2]) assert.equal((await r).status, 200)
    assert.deepEqual(g.order.slice(-2), ['s0', 's2'])
    assert.ok(!g.order.includes('s1'))
  })

  it('a client that leaves while queued leaves the queue', async () => {
    const before = limit.stats()
    const r0 = get(srv.pool, '/q?hold&id=a0')
    await until(() => g.held.has('a0'), 'a0 running')
    const ac = new AbortController()
    const w = get(srv.pool, '/q?hold&id=a1', ac.signal).catch((e: Error) => e)
    await queued(1)
    ac.abort()
    await w
    await queued(0)
    g.release('a0')
    assert.equal((await r0).status, 200)
    const s = limit.stats()
    assert.equal(s.aborted - before.aborted, 1)
    assert.ok(!g.order.includes('a1'))
  })
})

test('express: app.use(httpLimiter(limit)) before the routes', async () => {
  const limit = new AdaptiveLimit({ name: 'express', algorithm: 'fixed', initialLimit: 1, queue: false })
  const app = express()
  app.use(httpLimiter(limit))
  let release: () => void = () => {}
  app.get('/slow', (_req, res) => {
    release = () => res.send('slow')
  })
  app.get('/fast', (_req, res) => res.send('fast'))
  const srv = await listen(app)
  try {
    const slow = get(srv.pool, '/slow')
    await until(() => limit.inFlight === 1, 'slow running')
    assert.equal((await get(srv.pool, '/fast')).status, 503)
    release()
    assert.equal((await slow).text, 'slow')
    await until(() => limit.inFlight === 0, 'slow returned')
    assert.equal((await get(srv.pool, '/fast')).text, 'fast')
    const s = limit.stats()
    assert.deepEqual([s.succeeded, s.rejected], [2, 1])
  } finally {
    await srv.close()
  }
})

test('fastify: register(fastifyLimiter, { limit }) counts refusals under the route pattern', async () => {
  const limit = new AdaptiveLimit({ name: 'fastify', algorithm: 'fixed', initialLimit: 1, queue: false })
  const counted: string[] = []
  const app = Fastify()
  await app.register(fastifyLimiter, {
    limit,
    pressure: { recordShed: (route, reason) => counted.push(`${route} ${reason}`) },
  })
  let release: () => void = () => {}
  app.get('/items/:id', (request, reply) => {
    if ((request.params as { id: string }).id === 'slow') release = () => void reply.send('slow')
    else if ((request.params as { id: string }).id === 'boom') void reply.code(500).send('boom')
    else void reply.send('ok')
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 4 })
  try {
    const slow = get(pool, '/items/slow')
    await until(() => limit.inFlight === 1, 'slow running')
    const refused = await get(pool, '/items/7')
    assert.equal(refused.status, 503)
    assert.equal(refused.headers['retry-after'], '5')
    assert.equal(JSON.parse(refused.text).reason, 'limit')
    release()
    assert.equal((await slow).text, 'slow')
    await until(() => limit.inFlight === 0, 'slow returned')
    assert.equal((await get(pool, '/items/boom')).status, 500)
    await until(() => limit.inFlight === 0, 'boom returned')
    assert.deepEqual(counted, ['/items/:id limit'])
    const s = limit.stats()
    assert.deepEqual([s.succeeded, s.dropped, s.rejected], [1, 1, 1])
  } finally {
    await pool.close()
    await app.close()
  }
})
