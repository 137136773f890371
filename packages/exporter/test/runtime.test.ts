/**
 * Invariant: one runtime sampler per thread. A pressure monitor, an exporter and the in-process
 * collectors of one thread hold the same event-loop histogram and GC observer (reference counted),
 * read the same numbers from them, and the last one to close stops them.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { runtimeSamplerRefs } from '@beamline/core'
import { PressureMonitor } from '@beamline/pressure'
import { Registry } from 'prom-client'
import { promCollector, startExporter } from '../src/index.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

it('the pressure monitor, the exporter and promCollector share one sampler, and see one event-loop delay', async () => {
  assert.deepEqual(runtimeSamplerRefs(), { eventLoop: 0, gc: 0 })
  const monitor = new PressureMonitor({ sampleIntervalMs: 20 })
  const exporter = await startExporter({ service: 'shared', pressure: monitor, listen: { port: 0 } })
  const registry = new Registry()
  const collector = promCollector(registry, { pressure: monitor })
  try {
    assert.deepEqual(runtimeSamplerRefs(), { eventLoop: 3, gc: 3 })
    await sleep(50)
    const end = performance.now() + 200
    while (performance.now() < end);
    // The histogram records the 200 ms block once the loop turns: the monitor at its next samples,
    // the exporter once the one-second window holding it has completed.
    let seenByMonitor = 0
    let seenByExporter = 0
    const deadline = performance.now() + 10_000
    while ((seenByMonitor < 0.2 || seenByExporter < 0.2) && performance.now() < deadline) {
      await sleep(50)
      seenByMonitor = Math.max(seenByMonitor, (monitor.signals()['eventLoopDelayP99Ms'] ?? 0) / 1000)
      seenByExporter = Math.max(seenByExporter, exporter.snapshot().runtime.eventLoopDelay.max)
    }
    assert.ok(seenByMonitor >= 0.2, `monitor saw ${seenByMonitor} s`)
    assert.ok(seenByExporter >= 0.2, `exporter saw ${seenByExporter} s`)
    assert.match(await registry.metrics(), /^beamline_pressure_event_loop_delay_p99_seconds \d/m)
  } finally {
    collector.close()
    await exporter.close()
    monitor.stop()
  }
  assert.deepEqual(runtimeSamplerRefs(), { eventLoop: 0, gc: 0 }, 'the last one to close stops the sampler')
})
