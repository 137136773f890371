import type { MetricDef } from '@beamline/exporter'
import { SELF_METRICS, SIDECAR_METRICS } from './metric-names.js'
import { POLL_ERRORS } from './poller.js'
import type { Store } from './store.js'

export interface ServedSample {
  /** Values of `servedLabels(def)`, in order. */
  readonly labels: readonly string[]
  readonly value: number
}

const M = SIDECAR_METRICS

/** When this process started, for `beamline_sidecar_start_time_seconds` and its OTLP start times. */
export const SIDECAR_START_MS = Math.round(performance.timeOrigin)

/** The samples of one of the sidecar's own metrics (`SELF_METRICS`). */
export function* selfSamples(store: Store, def: MetricDef): Iterable<ServedSample> {
  switch (def) {
    case M.targetUp:
      for (const t of store.targets.values()) yield { labels: [t.target.url], value: t.up ? 1 : 0 }
      return
    case M.targetPollDuration:
      for (const t of store.targets.values()) {
        if (t.lastPollTime !== null) yield { labels: [t.target.url], value: t.pollDurationSeconds }
      }
      return
    case M.seriesDropped:
      yield { labels: [], value: store.seriesDropped }
      return
    case M.seriesExpired:
      yield { labels: [], value: store.seriesExpired }
      return
    case M.series:
      yield { labels: [], value: store.seriesCount }
      return
    case M.collisions:
      for (const [kind, n] of Object.entries(store.collisions)) yield { labels: [kind], value: n }
      return
    case M.targets:
      yield { labels: [], value: store.targets.size }
      return
    case M.polls:
      yield { labels: ['ok'], value: store.pollsOk }
      yield { labels: ['error'], value: store.pollsFailed }
      return
    case M.pollErrors:
      for (const reason of POLL_ERRORS) yield { labels: [reason], value: store.pollErrors[reason] }
      return
    case M.pollCycleDuration:
      yield { labels: [], value: store.lastCycleSeconds }
      return
    case M.cpu: {
      const cpu = process.cpuUsage()
      yield { labels: [], value: (cpu.user + cpu.system) / 1e6 }
      return
    }
    case M.startTime:
      yield { labels: [], value: SIDECAR_START_MS / 1000 }
      return
  }
}

/** The current samples of one catalogue metric, as /metrics serves them (target labels first). */
export function* servedSamples(store: Store, def: MetricDef): Iterable<ServedSample> {
  if (SELF_METRICS.has(def)) {
    yield* selfSamples(store, def)
    return
  }
  for (const { target, series } of store.grouped().get(def) ?? [])
    yield { labels: [...target, ...series.labels], value: series.value }
}
