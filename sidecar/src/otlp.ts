import type { Attributes, Observable } from '@opentelemetry/api'
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { METRICS, servedLabels } from './metric-names.js'
import { servedSamples } from './samples.js'
import type { Store } from './store.js'

/** Label names as OpenTelemetry attribute keys: the target identity maps to the semantic conventions. */
const ATTRIBUTE: Readonly<Record<string, string>> = {
  service: 'service.name',
  instance: 'service.instance.id',
}

export interface OtlpPush {
  /** Pushes once more, then stops; bounded by `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>
}

/**
 * Pushes the same metrics as /metrics by OTLP/HTTP through the OpenTelemetry JS SDK: every catalogue
 * metric is an observable instrument read from the store at each export. The per-instrument
 * cardinality limit follows `--max-series` instead of the SDK's default 2000.
 */
export function startOtlpPush(
  store: Store,
  endpoint: string,
  intervalMs: number,
  maxSeries: number,
): OtlpPush {
  const exporter = new OTLPMetricExporter({ url: endpoint, timeoutMillis: Math.min(10_000, intervalMs) })
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: intervalMs,
    exportTimeoutMillis: Math.min(10_000, intervalMs),
    cardinalityLimits: { default: maxSeries },
  })
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'beamline-sidecar' }),
    readers: [reader],
  })
  const meter = provider.getMeter('@beamline/sidecar')
  const instruments = new Map<string, Observable>()
  for (const def of METRICS) {
    const opts = { description: def.help, unit: def.otel.unit }
    instruments.set(
      def.name,
      def.type === 'counter'
        ? meter.createObservableCounter(def.otel.name, opts)
        : meter.createObservableGauge(def.otel.name, opts),
    )
  }
  meter.addBatchObservableCallback(
    (observer) => {
      for (const def of METRICS) {
        const names = servedLabels(def).map((n) => ATTRIBUTE[n] ?? n)
        const instrument = instruments.get(def.name)!
        for (const s of servedSamples(store, def)) {
          const attributes: Attributes = {}
          for (let i = 0; i < names.length; i++) attributes[names[i]!] = s.labels[i]!
          observer.observe(instrument, s.value, attributes)
        }
      }
    },
    [...instruments.values()],
  )
  return {
    async shutdown(timeoutMs) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        provider.shutdown().catch(() => {}),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ])
      clearTimeout(timer)
    },
  }
}
