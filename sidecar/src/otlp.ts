/**
 * The OTLP/HTTP push, loaded only when `--otlp-endpoint` is given (the SDK is a few megabytes of
 * modules the Prometheus-only sidecar never needs).
 *
 * Identity follows the OpenTelemetry semantics: each monitored process is its own Resource
 * (`service.name`, `service.instance.id`, `process.pid`, `process.creation.time`), and its cumulative
 * sums start at that process's `startTime`, so a restarted service shows as a new start time, not as
 * a sum going down. The sidecar's own metrics are the Resource `service.name=beamline-sidecar`. An SDK
 * MeterProvider has one Resource, so the push builds the SDK's `ResourceMetrics` from the store itself,
 * one per target, and hands each to the SDK's OTLP exporter (serialization, retries, timeouts).
 */
import { hostname } from 'node:os'
import { type Attributes, ValueType } from '@opentelemetry/api'
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import {
  AggregationTemporality,
  DataPointType,
  type MetricData,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'
import { METRICS, type MetricDef, SELF_METRICS } from './metric-names.js'
import { SIDECAR_START_MS, selfSamples } from './samples.js'
import type { Store, TargetState } from './store.js'

export interface OtlpPush {
  /** Pushes once more, then stops; bounded by `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>
}

export interface OtlpOptions {
  readonly endpoint: string
  readonly intervalMs: number
  /** Receives one line when exports start failing and one when they succeed again. */
  readonly log: (line: string) => void
}

type HrTime = [number, number]

function hrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000)
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)]
}

const SCOPE = { name: '@beamline/sidecar' }

/** One metric's points, or nothing when it has none. */
function metricData(
  def: MetricDef,
  points: Iterable<{ labels: readonly string[]; value: number }>,
  labelNames: readonly string[],
  startTime: HrTime,
  endTime: HrTime,
): MetricData | undefined {
  const dataPoints = []
  for (const p of points) {
    const attributes: Attributes = {}
    for (let i = 0; i < labelNames.length; i++) attributes[labelNames[i]!] = p.labels[i]!
    dataPoints.push({ startTime, endTime, attributes, value: p.value })
  }
  if (dataPoints.length === 0) return undefined
  const descriptor = {
    name: def.otel.name,
    description: def.help,
    unit: def.otel.unit,
    valueType: ValueType.DOUBLE,
  }
  const aggregationTemporality = AggregationTemporality.CUMULATIVE
  return def.type === 'counter'
    ? { descriptor, aggregationTemporality, dataPointType: DataPointType.SUM, dataPoints, isMonotonic: true }
    : { descriptor, aggregationTemporality, dataPointType: DataPointType.GAUGE, dataPoints }
}

/** The Resource and metrics of one target that is up: its served series at its snapshot's time. */
export function targetMetrics(store: Store, state: TargetState): ResourceMetrics | undefined {
  const s = state.snapshot
  if (!state.up || !s || state.series.length === 0) return undefined
  const byDef = new Map<MetricDef, { labels: readonly string[]; value: number }[]>()
  for (const series of state.series) {
    let list = byDef.get(series.def)
    if (!list) byDef.set(series.def, (list = []))
    list.push(series)
  }
  const start = hrTime(s.startTime)
  const end = hrTime(s.time)
  const metrics: MetricData[] = []
  for (const [def, points] of byDef) {
    const data = metricData(def, points, def.labels, start, end)
    if (data) metrics.push(data)
  }
  return {
    resource: resourceFromAttributes({
      'service.name': s.service,
      'service.instance.id': store.servedInstance(state),
      'process.pid': s.pid,
      'process.creation.time': new Date(s.startTime).toISOString(),
    }),
    scopeMetrics: [{ scope: SCOPE, metrics }],
  }
}

const SIDECAR_RESOURCE = {
  'service.name': 'beamline-sidecar',
  'service.instance.id': `${hostname()}:${process.pid}`,
  'process.pid': process.pid,
  'process.creation.time': new Date(SIDECAR_START_MS).toISOString(),
}

/** The sidecar's own metrics (`SELF_METRICS`), as of `now`. */
export function sidecarMetrics(store: Store, now: number): ResourceMetrics {
  const start = hrTime(SIDECAR_START_MS)
  const end = hrTime(now)
  const metrics: MetricData[] = []
  for (const def of METRICS) {
    if (!SELF_METRICS.has(def)) continue
    const data = metricData(def, selfSamples(store, def), def.labels, start, end)
    if (data) metrics.push(data)
  }
  return { resource: resourceFromAttributes(SIDECAR_RESOURCE), scopeMetrics: [{ scope: SCOPE, metrics }] }
}

/**
 * Pushes every `intervalMs`: the sidecar's Resource, then one per target that is up (a target that is
 * down is left out: its series stop, as on /metrics). One export at a time; a push still running when
 * the next is due makes that one skip.
 */
export function startOtlpPush(store: Store, options: OtlpOptions): OtlpPush {
  const timeoutMillis = Math.min(10_000, options.intervalMs)
  const exporter = new OTLPMetricExporter({ url: options.endpoint, timeoutMillis })
  let failing = false
  const exportOne = (metrics: ResourceMetrics) =>
    new Promise<boolean>((resolve) => exporter.export(metrics, (result) => resolve(result.code === 0)))
  const pushAll = async () => {
    const batches = [sidecarMetrics(store, Date.now())]
    for (const state of store.targets.values()) {
      const m = targetMetrics(store, state)
      if (m) batches.push(m)
    }
    let ok = true
    for (const m of batches) ok = (await exportOne(m)) && ok
    if (ok === failing) {
      failing = !ok
      options.log(
        ok ? `OTLP export to ${options.endpoint} works again` : `OTLP export to ${options.endpoint} failed`,
      )
    }
  }
  let running: Promise<void> | undefined
  const tick = () => {
    running ??= pushAll().finally(() => (running = undefined))
  }
  const timer = setInterval(tick, options.intervalMs)
  return {
    async shutdown(timeoutMs) {
      clearInterval(timer)
      let timeout: NodeJS.Timeout | undefined
      await Promise.race([
        (async () => {
          await running
          await pushAll()
          await exporter.shutdown()
        })().catch(() => {}),
        new Promise<void>((resolve) => (timeout = setTimeout(resolve, timeoutMs))),
      ])
      clearTimeout(timeout)
    },
  }
}
