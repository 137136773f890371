/*
 * Invariant: each bulkhead key's waiting requests appear in the mailbox registry as the observed queue
 * `undici:<key>` of group `undici`, with the bulkhead's own count; an evicted key leaves the registry.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MailboxRegistry } from '@beamline/mailbox'
import { bulkhead } from '@beamline/undici'
import { Agent } from 'undici'
import { outcomes, sleep, startGate, startServer } from './helpers.js'

/** Waits until the registry's sampler has caught up with `expected`, or fails after 5 s. */
async function until(read: () => unknown, expected: unknown): Promise<void> {
  const deadline = performance.now() + 5000
  while (JSON.stringify(read()) !== JSON.stringify(expected)) {
    if (performance.now() > deadline) assert.deepEqual(read(), expected)
    await sleep(10)
  }
}

test('per-origin queues appear in the mailbox registry under group undici', async () => {
  const registry = new MailboxRegistry({ observeIntervalMs: 10 })
  const gate = await startGate()
  const other = await startServer((_req, res) => res.end('ok'))
  const b = bulkhead({ maxConcurrent: 1, maxQueued: 10, maxKeys: 1, registry })
  const agent = new Agent().compose(b)
  try {
    const requests = outcomes(
      Array.from({ length: 4 }, () =>
        agent.request({ origin: gate.origin, path: '/', method: 'GET' }).then((r) => r.body.text()),
      ),
    )
    await gate.waitFor(1)
    await until(() => registry.stats().byGroup['undici']?.queued, 3)
    const top = registry.top(1)[0]!
    assert.equal(top.name, `undici:${gate.origin}`)
    assert.equal(top.group, 'undici')
    assert.equal(top.length, b.stats()[0]!.queued)
    gate.release()
    assert.equal((await requests).ok.length, 4)
    await until(() => registry.stats().byGroup['undici']?.queued, 0)
    // maxKeys 1: the idle gate key is evicted for the new origin, and its observation closed with it.
    await (await agent.request({ origin: other.origin, path: '/', method: 'GET' })).body.text()
    assert.deepEqual(
      b.stats().map((s) => s.key),
      [other.origin],
    )
    assert.equal(registry.stats().byGroup['undici']?.mailboxes, 1)
  } finally {
    await agent.close()
    await gate.close()
    await other.close()
  }
})
