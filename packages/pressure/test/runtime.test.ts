/*
 * Invariants: the built-in signals measure the real runtime. Allocation pressure raises gcFraction
 * over its threshold while equal CPU load without allocation does not; blocking the loop raises
 * eventLoopDelayP99Ms; a busy loop raises eventLoopUtilization; retained memory raises heapUsedRatio
 * against the real heap limit. Each rise moves the level, and the level returns to 0 once the load
 * ends and the cool-down has passed. Bounds are generous: the machine is shared and slow.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { Worker } from 'node:worker_threads'
import { PressureMonitor } from '../src/index.js'
import { allocator, busyFor, sleep } from './fixtures/load.js'

const fast = { sampleIntervalMs: 50, windowMs: 500, coolDownMs: 300 }

describe('runtime signals', () => {
  it('gcFraction rises under real allocation pressure, not under the same CPU load without it', async () => {
    const monitor = new PressureMonitor({ thresholds: { gcFraction: [0.05, 0.9] }, ...fast })
    try {
      await busyFor(1_500, 20)
      const cpuOnly = monitor.signals()['gcFraction']!
      assert.equal(monitor.level, 0, `gcFraction ${cpuOnly} under CPU-only load`)
      // The monitor's own timer samples between the slices; record what it publishes.
      const levels: number[] = []
      monitor.on('change', ({ to, reasons }) => {
        levels.push(to)
        if (to > 0) assert.equal(reasons[0]!.signal, 'gcFraction')
      })
      let peak = 0
      const probe = setInterval(() => (peak = Math.max(peak, monitor.signals()['gcFraction']!)), 50)
      await busyFor(3_000, 20, allocator())
      clearInterval(probe)
      assert.ok(peak > 0.05 && peak > cpuOnly, `gcFraction under allocation ${peak}, CPU only ${cpuOnly}`)
      assert.ok(levels[0]! >= 1, `levels ${levels.join(',')}`)
      const start = Date.now()
      while (monitor.level !== 0 && Date.now() - start < 10_000) await sleep(50)
      assert.equal(monitor.level, 0, 'back to 0 once allocation stopped and the window and cool-down passed')
    } finally {
      monitor.stop()
    }
  })

  it('eventLoopDelayP99Ms rises when the loop is blocked', async () => {
    const monitor = new PressureMonitor({ thresholds: { eventLoopDelayP99Ms: [50, 5_000] }, ...fast })
    try {
      await sleep(300)
      assert.equal(monitor.level, 0, `idle delay ${monitor.signals()['eventLoopDelayP99Ms']} ms`)
      // 120 ms blocks with short gaps: every timer in them is ≥ 50 ms late.
      for (let i = 0; i < 8; i++) {
        await busyFor(120, 120)
        await sleep(5)
      }
      await sleep(60)
      assert.equal(monitor.level, 1, `delay ${monitor.signals()['eventLoopDelayP99Ms']} ms`)
      assert.ok(monitor.signals()['eventLoopDelayP99Ms']! >= 50)
    } finally {
      monitor.stop()
    }
  })

  it('eventLoopUtilization rises with a busy loop and falls when idle', async () => {
    const monitor = new PressureMonitor({ thresholds: { eventLoopUtilization: [0.8, 0.999] }, ...fast })
    try {
      await sleep(600)
      const idle = monitor.signals()['eventLoopUtilization']!
      assert.ok(idle < 0.5, `idle utilization ${idle}`)
      await busyFor(1_200, 10)
      const busy = monitor.signals()['eventLoopUtilization']!
      assert.ok(busy >= 0.8, `busy utilization ${busy}`)
      assert.ok(monitor.level >= 1)
      const start = Date.now()
      while (monitor.level !== 0 && Date.now() - start < 10_000) await sleep(50)
      assert.equal(monitor.level, 0)
    } finally {
      monitor.stop()
    }
  })

  it('heapUsedRatio follows retained memory against the real heap limit', async () => {
    const worker = new Worker(new URL('./fixtures/heap-worker.js', import.meta.url), {
      // A small young generation too: heap_size_limit counts its reservation (64 MB old → 70 MB limit).
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 4 },
    })
    const [result] = (await once(worker, 'message')) as [
      { level: number; first: number; last: number; reasons: { signal: string }[] },
    ]
    await once(worker, 'exit')
    assert.equal(result.level, 2, `heap ratio went from ${result.first} to ${result.last}`)
    assert.ok(result.first < 0.3 && result.last >= 0.6, `${result.first} → ${result.last}`)
    assert.equal(result.reasons[0]!.signal, 'heapUsedRatio')
  })
})
