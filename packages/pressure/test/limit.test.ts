/*
 * Invariants of httpShedder and httpLimiter (@beamline/limit) in front of the same real node:http
 * server, in that order:
 *  - pressure is asked first: at shed the shedder refuses and the limit never sees the request;
 *  - below shed, the limit refuses what is over it;
 *  - both count into the same table, `monitor.shedStats()`, by route and reason — the signal name for
 *    the shedder, `limit` / `queue-full` / `timeout` for the limiter — exactly the 503s the client saw;
 *  - the same exempt paths pass both.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { AdaptiveLimit, httpLimiter } from '@beamline/limit'
import { Pool } from 'undici'
import { httpShedder } from '../src/index.js'
import { driven } from './fixtures/driven.js'

test('httpShedder then httpLimiter: pressure first, then the limit, one refusal table', async () => {
  const { monitor, step } = driven({ coolDownMs: 0 })
  const limit = new AdaptiveLimit({
    name: 'door',
    algorithm: 'fixed',
    initialLimit: 1,
    queue: { maxWaiters: 1 },
  })
  const exempt = ['/healthz']
  const shed = httpShedder(monitor, { exempt })
  const limiter = httpLimiter(limit, { exempt, pressure: monitor })
  const held: ServerResponse[] = []
  const server = createServer((req, res) =>
    shed(req, res, () =>
      limiter(req, res, () => {
        if (req.url?.startsWith('/hold')) held.push(res)
        else res.end('ok')
      }),
    ),
  )
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 8 })
  const get = async (path: string) => {
    const res = await pool.request({ path, method: 'GET' })
    return { status: res.statusCode, body: await res.body.text() }
  }
  try {
    // At shed: the shedder answers, the limit is not asked.
    step({ queuedMessages: 5_000 })
    assert.equal((await get('/users/1')).status, 503)
    assert.equal((await get('/healthz')).status, 200)
    assert.equal(limit.stats().acquired + limit.stats().rejected, 0, 'the limit saw a shed request')
    // Below shed: the limit is full (one running, one queued), the next is refused for a full queue.
    step({ queuedMessages: 0 })
    const running = get('/hold/a')
    while (held.length === 0) await new Promise((r) => setTimeout(r, 5))
    const queued = get('/orders/1')
    while (limit.stats().queued === 0) await new Promise((r) => setTimeout(r, 5))
    const refused = await get('/orders/2')
    assert.equal(refused.status, 503)
    assert.equal(JSON.parse(refused.body).reason, 'queue-full')
    assert.equal((await get('/healthz')).status, 200, 'exempt from the limiter too')
    held[0]!.end('ok')
    assert.equal((await running).status, 200)
    assert.equal((await queued).status, 200)
    const table = new Map(monitor.shedStats().map((s) => [`${s.route} ${s.reason}`, s.count]))
    assert.deepEqual(
      table,
      new Map([
        ['/users queuedMessages', 1],
        ['/orders queue-full', 1],
      ]),
    )
    assert.equal(limit.stats().queueFull, 1)
  } finally {
    await pool.close()
    server.closeAllConnections()
    server.close()
    monitor.stop()
  }
})
