/**
 * An @beamline/limit AdaptiveLimit (issue 17) in the service's own pipeline: promCollector and
 * otelInstruments serve its limit, in-flight and outcomes per partition from the same catalogue the
 * sidecar serves, and no RTT series before the limit has measured one.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { AdaptiveLimit } from '@beamline/limit'
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { Registry } from 'prom-client'
import { otelInstruments, promCollector } from '../src/index.js'

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

function heldLimit() {
  const limit = new AdaptiveLimit({ name: 'http', algorithm: 'fixed', initialLimit: 2, queue: false })
  const tokens = [limit.tryAcquire(), limit.tryAcquire()]
  assert.equal(limit.tryAcquire(), undefined)
  tokens[0]!.dropped()
  return limit
}

it('promCollector serves a limit, per partition and outcome, and no RTT before one is measured', async () => {
  const registry = new Registry()
  const collector = promCollector(registry, { limits: [heldLimit()] }, { runtime: false })
  const text = await registry.metrics()
  assert.match(text, /^beamline_limit_limit\{limit="http"\} 2$/m)
  assert.match(text, /^beamline_limit_min_limit\{limit="http"\} 1$/m)
  assert.match(text, /^beamline_limit_in_flight\{limit="http",partition="default"\} 1$/m)
  assert.match(
    text,
    /^beamline_limit_requests_total\{limit="http",partition="default",outcome="acquired"\} 2$/m,
  )
  assert.match(
    text,
    /^beamline_limit_requests_total\{limit="http",partition="default",outcome="rejected"\} 1$/m,
  )
  assert.match(
    text,
    /^beamline_limit_completed_total\{limit="http",partition="default",outcome="dropped"\} 1$/m,
  )
  assert.doesNotMatch(text, /^beamline_limit_min_rtt_seconds\{/m)
  collector.close()
})

it('otelInstruments observes the same values under the OpenTelemetry names', async () => {
  const reader = new TestReader()
  const provider = new MeterProvider({ readers: [reader] })
  const instruments = otelInstruments(
    provider.getMeter('test'),
    { limits: [heldLimit()] },
    { runtime: false },
  )
  const { resourceMetrics } = await reader.collect()
  const byName = new Map(
    resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]),
  )
  assert.equal(byName.get('beamline.limit.limit')!.dataPoints[0]!.value, 2)
  const inFlight = byName.get('beamline.limit.in_flight')!.dataPoints[0]!
  assert.equal(inFlight.value, 1)
  assert.deepEqual(inFlight.attributes, { limit: 'http', partition: 'default' })
  const dropped = byName
    .get('beamline.limit.completed')!
    .dataPoints.find((p) => p.attributes['outcome'] === 'dropped')!
  assert.equal(dropped.value, 1)
  instruments.close()
  await provider.shutdown()
})
