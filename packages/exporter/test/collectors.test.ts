/** promCollector and otelInstruments report the same snapshot metrics in the service's own pipeline. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { runtimeSamplerRefs } from '@beamline/core'
import { Semaphore } from '@beamline/semaphore'
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { Counter, Gauge, Registry } from 'prom-client'
import { otelInstruments, promCollector, SNAPSHOT_METRICS } from '../src/index.js'

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const pressure = {
  level: 1,
  score: 1.5,
  reasons: [{ signal: 'eventLoopDelayP99Ms', value: 120, throttle: 100, shed: 200, level: 1 }],
  // A signal the catalogue does not know (a newer monitor's) stays in the JSON only.
  signals: () => ({ eventLoopDelayP99Ms: 120, queuedMessages: 40, gcFraction: 0.25, newerSignal: 3 }),
  shedStats: () => [{ route: 'POST /msg', reason: 'queuedMessages', count: 7 }],
}

describe('promCollector', () => {
  it('adds the snapshot metrics to an existing registry, in both exposition formats', async () => {
    const registry = new Registry()
    const sem = new Semaphore({ name: 'db', max: 5 })
    sem.tryAcquire()
    sem.tryAcquire()
    const collector = promCollector(registry, { semaphores: [sem], pressure })
    const text = await registry.metrics()
    assert.match(text, /^beamline_semaphore_in_use\{semaphore="db"\} 2$/m)
    assert.match(text, /^beamline_semaphore_acquired_total\{semaphore="db"\} 2$/m)
    assert.match(text, /^beamline_pressure_level 1$/m)
    // One metric per signal, in base units: the monitor's milliseconds are exported as seconds.
    assert.match(text, /^beamline_pressure_event_loop_delay_p99_seconds 0\.12$/m)
    assert.match(text, /^beamline_pressure_queued_messages 40$/m)
    assert.match(text, /^beamline_pressure_gc_ratio 0\.25$/m)
    assert.doesNotMatch(text, /beamline_pressure_signal|newerSignal/)
    assert.match(text, /^beamline_shed_total\{reason="queuedMessages",route="POST \/msg"\} 7$/m)
    assert.match(text, /^beamline_nodejs_eventloop_delay_p99_seconds \d/m)
    sem.release()
    await new Promise((r) => setImmediate(r))
    assert.match(await registry.metrics(), /^beamline_semaphore_in_use\{semaphore="db"\} 1$/m)

    const open = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>()
    open.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
    const c2 = promCollector(open, { semaphores: [sem] }, { runtime: false })
    const om = await open.metrics()
    assert.match(om, /^# TYPE beamline_semaphore_acquired counter$/m)
    assert.match(om, /^beamline_semaphore_acquired_total\{semaphore="db"\} 2$/m)
    assert.doesNotMatch(om, /eventloop/)
    c2.close()
    collector.close()
    assert.equal(registry.getSingleMetric(SNAPSHOT_METRICS.semaphoreInUse.name), undefined)
  })

  it('registers real prom-client gauges and counters, and reads only the sources it has', async () => {
    const registry = new Registry()
    const sem = new Semaphore({ name: 'db', max: 1 })
    const collector = promCollector(registry, { semaphores: [sem] }, { runtime: false })
    try {
      assert.ok(registry.getSingleMetric('beamline_semaphore_in_use') instanceof Gauge)
      assert.ok(registry.getSingleMetric('beamline_semaphore_acquired_total') instanceof Counter)
      assert.deepEqual(
        runtimeSamplerRefs(),
        { eventLoop: 0, gc: 0 },
        'runtime: false holds no runtime sampler',
      )
      const text = await registry.metrics()
      // No pressure source: its label-less metrics show no series, not a 0 a dashboard would believe.
      assert.doesNotMatch(text, /^beamline_pressure_level /m)
      assert.match(text, /^beamline_semaphore_max\{semaphore="db"\} 1$/m)
    } finally {
      collector.close()
    }
  })

  it('leaves out a counter value that is not a finite number, and serves the rest', async () => {
    const registry = new Registry()
    const row = (timedOut: number) => ({
      key: 'http://a.test',
      active: 1,
      queued: 0,
      admitted: 5,
      queuedTotal: 0,
      rejected: 0,
      timedOut,
      aborted: 0,
    })
    const collector = promCollector(
      registry,
      { undici: { bulkheads: [{ stats: () => [row(Number.POSITIVE_INFINITY)] }] } },
      { runtime: false },
    )
    try {
      const text = await registry.metrics()
      assert.match(text, /^beamline_undici_requests_total\{origin="http:\/\/a.test",outcome="admitted"\} 5$/m)
      assert.doesNotMatch(text, /outcome="timed_out"/)
      assert.match(text, /^beamline_undici_active\{origin="http:\/\/a.test"\} 1$/m)
    } finally {
      collector.close()
    }
  })

  it('never throws into the scrape when a source fails', async () => {
    const registry = new Registry()
    promCollector(
      registry,
      {
        semaphores: [
          {
            stats: () => {
              throw new Error('broken semaphore')
            },
          },
        ],
      },
      { runtime: false },
    )
    assert.doesNotMatch(await registry.metrics(), /semaphore="/)
  })
})

describe('otelInstruments', () => {
  it('registers observable instruments read once per collection', async () => {
    const reader = new TestReader()
    const provider = new MeterProvider({ readers: [reader] })
    const sem = new Semaphore({ name: 'db', max: 2 })
    sem.tryAcquire()
    const instruments = otelInstruments(provider.getMeter('test'), { semaphores: [sem], pressure })
    const { resourceMetrics } = await reader.collect()
    const byName = new Map(
      resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]),
    )
    const inUse = byName.get('beamline.semaphore.in_use')!
    assert.equal(inUse.dataPoints[0]!.value, 1)
    assert.deepEqual(inUse.dataPoints[0]!.attributes, { semaphore: 'db' })
    assert.equal(byName.get('beamline.semaphore.acquired')!.dataPoints[0]!.value, 1)
    assert.equal(byName.get('beamline.shed')!.dataPoints[0]!.value, 7)
    assert.ok(byName.has('nodejs.eventloop.delay.p99'))
    assert.equal(byName.get('v8js.memory.heap.used')!.descriptor.unit, 'By')
    instruments.close()
    await provider.shutdown()
  })
})
