/*
 * Invariants, with a real @beamline/mailbox registry: queuedMessages is the registry's total across
 * every mailbox and thread, longestQueue its longest mailbox; each drives the level through its own
 * thresholds, and draining the queues brings the level back to 0 after the cool-down. A worker that
 * fills a mailbox raises the level the main thread's monitor publishes, and sees it itself; a worker
 * that dies with its mailbox full stops counting, so the level falls back after the cool-down.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { Worker } from 'node:worker_threads'
import { MailboxRegistry } from '@beamline/mailbox'
import { PressureMonitor } from '../src/index.js'
import { sleep } from './fixtures/load.js'

const thresholds = { queuedMessages: [1_000, 5_000], longestQueue: [400, 2_000] } as const

async function until(check: () => boolean, what: string, ms = 5_000) {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > ms) assert.fail(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

describe('queue signals from a real mailbox registry', () => {
  it('reads total queued and the longest queue, and drives the level with each', async () => {
    const registry = new MailboxRegistry()
    const monitor = new PressureMonitor({ registry, thresholds, sampleIntervalMs: 20, coolDownMs: 200 })
    const boxes = Array.from({ length: 10 }, (_, i) =>
      registry.mailbox<number>(`conn-${i}`, { group: 'conns', capacity: 10_000 }),
    )
    try {
      // 10 × 150: total over its throttle threshold, no single queue long.
      for (const box of boxes) for (let i = 0; i < 150; i++) box.push(i)
      await until(() => monitor.level === 1, 'level 1 from queuedMessages')
      assert.deepEqual(monitor.signals(), { queuedMessages: 1_500, longestQueue: 150 })
      assert.deepEqual(
        monitor.reasons.map((r) => r.signal),
        ['queuedMessages'],
      )
      // One queue grows past the shed threshold of longestQueue.
      for (let i = 0; i < 2_000; i++) boxes[3]!.push(i)
      await until(() => monitor.level === 2, 'level 2 from longestQueue')
      assert.equal(monitor.signals()['longestQueue'], 2_150)
      assert.equal(monitor.topReason(), 'longestQueue')
      // Drain everything: level holds through the cool-down, then returns to 0.
      const drainedAt = performance.now()
      for (const box of boxes) box.drain()
      await until(() => monitor.signals()['queuedMessages'] === 0, 'the sample after draining')
      assert.equal(monitor.level, 2, 'held during the cool-down')
      await until(() => monitor.level === 0, 'level 0 after the cool-down')
      assert.ok(performance.now() - drainedAt >= 200)
    } finally {
      monitor.stop()
      for (const box of boxes) box.close()
      registry.close()
    }
  })

  it('sees queues filled in a worker, and the worker sees the level', async () => {
    const registry = new MailboxRegistry()
    const monitor = new PressureMonitor({ registry, thresholds, sampleIntervalMs: 20, coolDownMs: 100 })
    const worker = new Worker(new URL('./fixtures/queue-worker.js', import.meta.url), {
      workerData: { registryHandle: registry.handle, pressureHandle: monitor.handle },
    })
    const ask = async (message: object) => {
      worker.postMessage(message)
      const [reply] = await once(worker, 'message')
      return reply as { length: number; level: number; admit: boolean; reasons: { signal: string }[] }
    }
    try {
      assert.equal((await ask({ report: true })).level, 0)
      await ask({ fill: 6_000 })
      await until(() => monitor.level === 2, 'level 2 from the worker queue')
      const seen = await ask({ report: true })
      assert.equal(seen.length, 6_000)
      assert.equal(seen.level, 2)
      assert.equal(seen.admit, false)
      assert.deepEqual(seen.reasons.map((r) => r.signal).sort(), ['longestQueue', 'queuedMessages'])
      await ask({ drain: true })
      await until(() => monitor.level === 0, 'level 0 after the worker drained')
      assert.equal((await ask({ report: true })).admit, true)
    } finally {
      await worker.terminate()
      monitor.stop()
      registry.close()
    }
  })

  it('regression: a worker that dies leaves its mailboxes counted forever (issue 15 #2)', async () => {
    const registry = new MailboxRegistry()
    const monitor = new PressureMonitor({
      registry,
      thresholds: { queuedMessages: [1_000, 4_000] },
      sampleIntervalMs: 20,
      coolDownMs: 200,
    })
    const worker = new Worker(new URL('./fixtures/queue-worker.js', import.meta.url), {
      workerData: { registryHandle: registry.handle, pressureHandle: monitor.handle },
    })
    worker.on('error', () => {})
    try {
      worker.postMessage({ fill: 5_000 })
      await once(worker, 'message')
      await until(() => monitor.level === 2, 'level 2 from the worker queue')
      // Not once(): it rejects on the worker's 'error'.
      const exited = new Promise((resolve) => worker.once('exit', resolve))
      worker.postMessage({ die: true })
      await exited
      await until(() => monitor.signals()['queuedMessages'] === 0, 'the dead worker no longer counted')
      const s = registry.stats()
      assert.equal(s.totalQueued, 0)
      assert.equal(s.longest, null)
      assert.equal(s.dropped.abandoned, 5_000)
      // Nothing holds the level up any more: it falls as after any drain, once the cool-down is over.
      await until(() => monitor.level === 0, 'level 0 one cool-down after the death')
    } finally {
      monitor.stop()
      registry.close()
    }
  })
})
