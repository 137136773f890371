import { warnOnce } from '@beamline/core'
import { forEachSample, type MetricDef, type SampleSections, SNAPSHOT_METRICS } from './metrics.js'
import { acquireRuntimeSampler, type RuntimeSampler } from './runtime.js'
import { readSources, START_TIME } from './snapshot.js'
import type { Sources } from './sources.js'

export interface Sample {
  readonly labels: readonly string[]
  readonly value: number
}

/**
 * Reads the sources for in-process collectors, straight into samples: the snapshot builder's source
 * readers and the sidecar's translation to metrics, without a snapshot document between them (no
 * identity, no top-N list, no runtime unless exported). One scrape asks every metric in turn; they all
 * share one reading, dropped at the next turn of the event loop (a scrape formats without I/O, so it
 * finishes before that), so each scrape sees one consistent moment and the next scrape a fresh one.
 */
export class SampleReader {
  /** Held only when the runtime metrics are exported. */
  private readonly runtime: RuntimeSampler | undefined
  private cached: Map<string, Sample[]> | undefined
  private closed = false
  readonly defs: readonly MetricDef[]

  constructor(
    private readonly sources: Sources,
    runtime: boolean,
  ) {
    this.runtime = runtime ? acquireRuntimeSampler() : undefined
    const all = Object.values(SNAPSHOT_METRICS) as MetricDef[]
    this.defs = runtime ? all : all.filter((d) => !RUNTIME_DEFS.has(d))
  }

  samples(def: MetricDef): readonly Sample[] {
    if (this.closed) return []
    if (!this.cached) {
      const grouped = new Map<string, Sample[]>()
      const sections: SampleSections = readSources(this.sources, 0)
      const all = this.runtime
        ? { ...sections, runtime: this.runtime.read(), startTime: START_TIME }
        : sections
      forEachSample(
        all,
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
    this.runtime?.release()
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
