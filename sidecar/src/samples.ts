import type { MetricDef } from '@beamline/exporter'
import { PEAK_METRICS, SIDECAR_METRICS } from './metric-names.js'
import type { Store } from './store.js'

export interface ServedSample {
  /** Values of `servedLabels(def)`, in order. */
  readonly labels: readonly string[]
  readonly value: number
}

const PEAK_BASE = new Map([...PEAK_METRICS].map(([base, peak]) => [peak, base]))
const M = SIDECAR_METRICS

/** The current samples of one catalogue metric: what /metrics and the OTLP push both serve. */
export function* servedSamples(store: Store, def: MetricDef): Iterable<ServedSample> {
  const peakBase = PEAK_BASE.get(def)
  if (peakBase) {
    for (const s of store.grouped().get(peakBase) ?? []) yield { labels: s.labels, value: s.peak }
    return
  }
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
      yield { labels: [], value: store.series.size }
      return
    case M.targets:
      yield { labels: [], value: store.targets.size }
      return
    case M.polls:
      yield { labels: ['ok'], value: store.pollsOk }
      yield { labels: ['error'], value: store.pollsFailed }
      return
    case M.pollCycleDuration:
      yield { labels: [], value: store.lastCycleSeconds }
      return
    case M.cpu: {
      const cpu = process.cpuUsage()
      yield { labels: [], value: (cpu.user + cpu.system) / 1e6 }
      return
    }
  }
  for (const s of store.grouped().get(def) ?? []) yield { labels: s.labels, value: s.value }
}
