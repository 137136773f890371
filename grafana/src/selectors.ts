/**
 * Metric selectors as every dashboard writes them. Names come from the sidecar's metric-name module
 * (`@beamline/sidecar`), so a renamed metric breaks this build instead of leaving a panel empty; every
 * selector carries the dashboard's filters, so no panel ever mixes services the operator did not pick.
 */
import { type MetricDef, PEAK_METRICS, servedLabels } from '@beamline/sidecar'
import type { RecordedDef } from './recording-rules.js'

/**
 * Prometheus' own per-scrape series: `up` is 0 when Prometheus cannot scrape the sidecar itself, the
 * one failure the sidecar cannot report. The only name dashboards and alerts use beyond the module.
 */
export const PROMETHEUS_UP = 'up'

/** Filter on the scrape job, which every series has (Prometheus adds it). */
export const JOB_FILTER = 'job=~"$job"'
/** Filters on the `service` and `instance` labels the sidecar puts on every metric read from a target. */
export const TARGET_FILTERS = 'service=~"$service",instance=~"$instance"'

/** `name{job=~"$job",service=~"$service",instance=~"$instance",…extra}`; no target filters on the sidecar's own metrics. */
export function sel(def: MetricDef | typeof PROMETHEUS_UP, ...extra: string[]): string {
  const name = typeof def === 'string' ? def : def.name
  const perTarget = typeof def !== 'string' && servedLabels(def).includes('service')
  const matchers = [JOB_FILTER, ...(perTarget ? [TARGET_FILTERS] : []), ...extra]
  return `${name}{${matchers.join(',')}}`
}

/** The sidecar's `_peak` gauge of `def`: the highest poll over its trailing --peak-window (30 s). */
export function peak(def: MetricDef): MetricDef {
  const p = PEAK_METRICS.get(def)
  if (!p) throw new Error(`${def.name} has no _peak gauge in the sidecar's metric-name module`)
  return p
}

/** `rate(selector[$__rate_interval])`: Grafana widens the window to at least four scrape intervals. */
export function rate(def: MetricDef, ...extra: string[]): string {
  return `rate(${sel(def, ...extra)}[$__rate_interval])`
}

/** A recorded series with the filters its labels allow: job always, service and instance when kept. */
export function recordedSel(def: RecordedDef, ...extra: string[]): string {
  const matchers = [
    JOB_FILTER,
    ...(def.labels.includes('service') ? ['service=~"$service"'] : []),
    ...(def.labels.includes('instance') ? ['instance=~"$instance"'] : []),
    ...extra,
  ]
  return `${def.name}{${matchers.join(',')}}`
}
