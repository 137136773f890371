import { warnOnce } from '@beamline/core'
import { forEachSample, type MetricDef, SNAPSHOT_METRICS } from './metrics.js'
import { acquireRuntimeSampler, type RuntimeSampler, releaseRuntimeSampler } from './runtime.js'
import { buildSnapshot } from './snapshot.js'
import type { Sources } from './sources.js'

export interface Sample {
  readonly labels: readonly string[]
  readonly value: number
}

/**
 * Reads the sources for in-process collectors. One scrape asks every metric in turn; they all share one
 * snapshot, dropped at the next turn of the event loop (a scrape formats without I/O, so it finishes
 * before that), so each scrape sees one consistent moment and the next scrape a fresh one.
 */
export class SampleReader {
  private readonly runtime: RuntimeSampler
  private cached: Map<string, Sample[]> | undefined
  private closed = false
  readonly defs: readonly MetricDef[]

  constructor(
    private readonly sources: Sources,
    private readonly topN: number,
    runtime: boolean,
  ) {
    this.runtime = acquireRuntimeSampler()
    const all = Object.values(SNAPSHOT_METRICS) as MetricDef[]
    this.defs = runtime ? all : all.filter((d) => !RUNTIME_DEFS.has(d))
  }

  samples(def: MetricDef): readonly Sample[] {
    if (this.closed) return []
    if (!this.cached) {
      const grouped = new Map<string, Sample[]>()
      const snapshot = buildSnapshot({ service: '' }, this.sources, this.runtime, this.topN)
      forEachSample(
        snapshot,
        (d, labels, value) => {
          let list = grouped.get(d.name)
          if (!list) grouped.set(d.name, (list = []))
          list.push({ labels, value })
        },
        (d, labels) =>
          warnOnce(
            'collect:duplicate',
            `beamline: two sources report ${d.name}{${labels.join(',')}}; exporting the first (give each semaphore its own name)`,
          ),
      )
      this.cached = grouped
      setImmediate(() => (this.cached = undefined))
    }
    return this.cached.get(def.name) ?? []
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    releaseRuntimeSampler(this.runtime)
  }
}

const M = SNAPSHOT_METRICS
const RUNTIME_DEFS: ReadonlySet<MetricDef> = new Set<MetricDef>([
  M.eventLoopDelayMin,
  M.eventLoopDelayMax,
  M.eventLoopDelayMean,
  M.eventLoopDelayStddev,
  M.eventLoopDelayP50,
  M.eventLoopDelayP90,
  M.eventLoopDelayP99,
  M.eventLoopUtilization,
  M.gcDuration,
  M.gcCollections,
  M.heapUsed,
  M.heapLimit,
  M.heapAvailable,
  M.heapPhysical,
  M.rss,
  M.startTime,
])
