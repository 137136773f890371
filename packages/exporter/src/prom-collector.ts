import { warnOnce } from '@beamline/core'
import type { Metric, Registry, RegistryContentType } from 'prom-client'
import { SampleReader } from './collect.js'
import type { MetricDef } from './metrics.js'
import type { Sources } from './sources.js'

/** One labelled value as prom-client formats it. */
export interface PromValue {
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/**
 * A prom-client metric whose values come from `read()` at scrape time, without importing prom-client
 * at run time (it is an optional peer). Create one per registry: prom-client renames counters in place
 * when an OpenMetrics registry formats them, so one object must not sit in both kinds of registry.
 * A `read` that throws yields no values and one warning.
 */
export function createPromMetric(def: MetricDef, read: () => Iterable<PromValue>): Metric {
  const metric = {
    name: def.name,
    help: def.help,
    type: def.type,
    aggregator: 'sum',
    labelNames: def.labels,
    async get() {
      let values: PromValue[] = []
      try {
        values = [...read()]
      } catch (err) {
        warnOnce(`prom:${def.name}`, `beamline: collecting ${def.name} failed`, err)
      }
      return { name: metric.name, help: def.help, type: def.type, aggregator: 'sum', values }
    },
    reset() {},
  }
  return metric as unknown as Metric
}

export interface PromCollectorOptions {
  /** Include the runtime metrics (event loop, GC, heap). Default `true`; turn off if another collector already reports them. */
  readonly runtime?: boolean
}

export interface PromCollector {
  /** Removes the metrics from the registry. */
  close(): void
}

/**
 * Adds the snapshot metrics (docs/metrics.md; without `service`/`instance` labels, which Prometheus
 * adds as target labels) to an existing prom-client registry, for services that keep their own
 * /metrics. Each scrape reads the sources once. Rates and peaks are computed by the sidecar only.
 */
export function promCollector(
  registry: Registry<RegistryContentType>,
  sources: Sources,
  options: PromCollectorOptions = {},
): PromCollector {
  const reader = new SampleReader(sources, 0, options.runtime ?? true)
  for (const def of reader.defs) {
    registry.registerMetric(
      createPromMetric(def, function* () {
        for (const s of reader.samples(def)) {
          const labels: Record<string, string> = {}
          for (let i = 0; i < def.labels.length; i++) labels[def.labels[i]!] = s.labels[i]!
          yield { labels, value: s.value }
        }
      }),
    )
  }
  return {
    close() {
      for (const def of reader.defs) registry.removeSingleMetric(def.name)
      reader.close()
    },
  }
}
