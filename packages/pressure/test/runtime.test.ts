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
import { median } from '@beamline/bench-kit'
import { PressureMonitor } from '../src/index.js'
import { allocator, busyFor, collectGarbage, sleep } from './fixtures/load.js'

const fast = { sampleIntervalMs: 50, windowMs: 500, coolDownMs: 300 }

/** gcFraction every 50 ms, from the second window on (the first still holds the previous phase), until `load` ends. */
async function sampled(monitor: PressureMonitor, load: Promise<void>): Promise<number[]> {
  const samples: number[] = []
  const begin = performance.now()
  const probe = setInterval(() => {
    if (performance.now() - begin >= fast.windowMs) samples.push(monitor.signals()['gcFraction']!)
  }, 50)
  await load
  clearInterval(probe)
  return samples.map((v) => Math.round(v * 1000) / 1000)
}

describe('runtime signals', () => {
  it('gcFraction rises under real allocation pressure, not under the same CPU load without it', async () => {
    // Collect the start-up garbage first, so the CPU-only phase has nothing left to collect.
    collectGarbage()
    const monitor = new PressureMonitor({ thresholds: { gcFraction: [0.1, 0.9] }, ...fast })
    try {
      // Compared as medians of the monitor's samples: on a shared 2-core machine a descheduled
      // scavenge can stretch one pause to tens of ms of wall time, a spike that says nothing.
      const cpuOnly = await sampled(monitor, busyFor(1_500, 20))
      assert.ok(median(cpuOnly) < 0.05, `gcFraction under CPU-only load: ${cpuOnly.join(' ')}`)
      // The monitor's own timer samples between the slices; record what it publishes.
      const levels: number[] = []
      monitor.on('change', ({ to, reasons }) => {
        levels.push(to)
        if (to > 0) assert.equal(reasons[0]!.signal, 'gcFraction')
      })
      const allocating = await sampled(monitor, busyFor(3_000, 20, allocator()))
      assert.ok(
        median(allocating) > 0.1 && median(allocating) > 2 * median(cpuOnly),
        `gcFraction under allocation ${allocating.join(' ')}, CPU only ${cpuOnly.join(' ')}`,
      )
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
