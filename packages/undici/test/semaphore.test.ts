/*
 * Invariants of a bulkhead bound by a shared @beamline/semaphore:
 * - Across two worker threads (one on undici 8, one on undici 7) sending 800 requests in bursts, the
 *   server never holds more than the semaphore's max requests at once, and does reach it.
 * - Every request completes, each thread releases every permit it took (inUse 0 at the end).
 * - A request holding a local slot but no permit counts as queued; it times out with
 *   ERR_BEAMLINE_QUEUE_TIMEOUT, or leaves at once on abort, giving its slot back either way.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { Semaphore } from '@beamline/semaphore'
import { BulkheadFullError, bulkhead, QueueTimeoutError } from '@beamline/undici'
import { Agent } from 'undici'
import { sleep, startServer, type TestServer } from './helpers.js'

const MAX = 4

describe('bulkhead with a shared semaphore', () => {
  let server: TestServer
  let current = 0
  let peak = 0
  before(async () => {
    server = await startServer((_req, res) => {
      current++
      peak = Math.max(peak, current)
      setTimeout(
        () => {
          current--
          res.end('ok')
        },
        1 + Math.random() * 6,
      )
    })
  })
  after(() => server.close())

  test('two worker threads together never exceed the semaphore', async () => {
    current = peak = 0
    const semaphore = new Semaphore({ name: 'undici-test', max: MAX })
    const requests = 40
    const rounds = 10
    const reports = await Promise.all(
      ['undici', 'undici7'].map(async (major) => {
        const worker = new Worker(new URL('./fixtures/semaphore-client.js', import.meta.url), {
          workerData: { handle: semaphore.handle, origin: server.origin, requests, rounds, major },
        })
        semaphore.watch(worker)
        // Both listeners at once: a worker that posts and exits can deliver both events in one turn.
        const [[report]] = (await Promise.all([once(worker, 'message'), once(worker, 'exit')])) as [
          [{ ok: number; failures: string[]; stats: { admitted: number }[] }],
          unknown,
        ]
        return report
      }),
    )
    for (const report of reports) {
      assert.deepEqual(report.failures, [])
      assert.equal(report.ok, requests * rounds)
      assert.equal(report.stats[0]!.admitted, requests * rounds)
    }
    assert.ok(peak <= MAX, `server saw ${peak} at once with max ${MAX}`)
    assert.equal(peak, MAX, 'the bound was reached, so the test could have seen it broken')
    assert.equal(server.seen(), 2 * requests * rounds)
    const s = semaphore.stats()
    assert.equal(s.inUse, 0)
    assert.equal(s.reclaimed, 0, 'no permit had to be reclaimed from an exited worker')
  })

  test('waiting for a permit: timeout, abort and hand-over', async () => {
    const semaphore = new Semaphore({ name: 'undici-local', max: 1 })
    assert.ok(semaphore.tryAcquire()) // someone else holds the only permit
    const b = bulkhead({ maxConcurrent: 2, maxQueued: 5, queueTimeoutMs: 200, semaphore })
    const agent = new Agent().compose(b)
    try {
      const err = await agent
        .request({ origin: server.origin, path: '/', method: 'GET' })
        .catch((e: unknown) => e)
      assert.ok(err instanceof QueueTimeoutError)
      assert.equal((err.cause as { code?: string }).code, 'ERR_BEAMLINE_SEMAPHORE_TIMEOUT')
      let stats = b.stats()[0]!
      assert.deepEqual([stats.timedOut, stats.queued, stats.active, stats.admitted], [1, 0, 0, 0])

      const ac = new AbortController()
      const aborted = agent.request({ origin: server.origin, path: '/', method: 'GET', signal: ac.signal })
      await sleep(10)
      assert.equal(b.stats()[0]!.queued, 1)
      assert.equal(semaphore.stats().waiting, 1)
      ac.abort()
      await assert.rejects(aborted)
      await sleep(10)
      assert.equal(semaphore.stats().waiting, 0, 'the parked acquire was withdrawn')
      stats = b.stats()[0]!
      assert.deepEqual([stats.aborted, stats.queued], [1, 0])

      const handedOver = agent
        .request({ origin: server.origin, path: '/', method: 'GET' })
        .then((r) => r.body.text())
      await sleep(10)
      semaphore.release()
      assert.equal(await handedOver, 'ok')
      stats = b.stats()[0]!
      assert.deepEqual([stats.admitted, stats.active, stats.queued], [1, 0, 0])
      assert.equal(semaphore.stats().inUse, 0)
    } finally {
      await agent.close()
    }
  })

  test('a semaphore that may not park more waiters refuses with BulkheadFullError', async () => {
    const semaphore = new Semaphore({ name: 'undici-nowait', max: 1, maxWaiters: 0 })
    assert.ok(semaphore.tryAcquire())
    const b = bulkhead({ maxConcurrent: 2, semaphore })
    const agent = new Agent().compose(b)
    try {
      const err = await agent
        .request({ origin: server.origin, path: '/', method: 'GET' })
        .catch((e: unknown) => e)
      assert.ok(err instanceof BulkheadFullError)
      assert.equal((err.cause as { code?: string }).code, 'ERR_BEAMLINE_SEMAPHORE_QUEUE_FULL')
      assert.equal(b.stats()[0]!.rejected, 1)
      semaphore.release()
    } finally {
      await agent.close()
    }
  })
})
