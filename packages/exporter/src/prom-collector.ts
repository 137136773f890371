import { createRequire } from 'node:module'
import { warnOnce } from '@beamline/core'
import type { Counter, Gauge, Metric, Registry, RegistryContentType } from 'prom-client'
import { SampleReader } from './collect.js'
import type { MetricDef } from './metrics.js'
import type { Sources } from './sources.js'

/** One labelled value, by label name. */
export interface PromValue {
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

type PromClient = typeof import('prom-client')
const require = createRequire(import.meta.url)
let promClient: PromClient | undefined

/** prom-client is an optional peer: loaded at the first collector, never by a service that has none. */
function loadPromClient(): PromClient {
  promClient ??= require('prom-client') as PromClient
  return promClient
}

/**
 * A real prom-client `Gauge` or `Counter` (by `def.type`) whose values come from `read()` at each
 * collection (`collect()`), so prom-client owns the format. Not registered anywhere: pass it to
 * `registry.registerMetric`, one per registry (prom-client renames counters in place when an
 * OpenMetrics registry formats them, so one object must not sit in both kinds of registry). A `read`
 * that throws yields no values and one warning; a counter value that is not a finite number is left
 * out (prom-client refuses it). `labelNames`: the labels the values carry, `def.labels` unless the
 * caller adds its own.
 *
 * prom-client keys a series by joining `name:value,` pairs, so two label sets whose values contain
 * `,name:` (`{group="a,reason:x",reason="y"}` and `{group="a",reason="x,reason:y"}`) are one series to
 * it: the last one set is served.
 */
export function createPromMetric(
  def: MetricDef,
  read: () => Iterable<PromValue>,
  labelNames: readonly string[] = def.labels,
): Metric {
  const { Counter, Gauge } = loadPromClient()
  const labelled = labelNames.length > 0
  function collect(this: Gauge | Counter): void {
    this.reset()
    let any = false
    try {
      for (const v of read()) {
        if (this instanceof Counter) {
          if (!Number.isFinite(v.value) || v.value < 0) continue
          this.inc(v.labels, v.value)
        } else this.set(v.labels, v.value)
        any = true
      }
    } catch (err) {
      warnOnce(`prom:${def.name}`, `beamline: collecting ${def.name} failed`, err)
    }
    // reset() leaves a metric without labels at 0: a source that reports nothing shows no series.
    if (!labelled && !any) this.remove()
  }
  const config = { name: def.name, help: def.help, labelNames, registers: [], collect }
  return def.type === 'counter' ? new Counter(config) : new Gauge(config)
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
 * /metrics, as real prom-client gauges and counters. Each scrape reads the sources once. Rates and
 * peaks are computed by the sidecar only.
 */
export function promCollector(
  registry: Registry<RegistryContentType>,
  sources: Sources,
  options: PromCollectorOptions = {},
): PromCollector {
  const reader = new SampleReader(sources, options.runtime ?? true)
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
