import { acquireRuntimeSampler as acquireCore, type RuntimeSampler as CoreSampler } from '@beamline/core'

/**
 * Runtime signals of the thread that serves the snapshot, named after the OpenTelemetry semantic
 * conventions for Node.js and V8 (`nodejs.eventloop.delay.*`, `nodejs.eventloop.utilization`,
 * `v8js.gc.duration`, `v8js.memory.heap.*`). Delay and utilization describe the last complete window
 * (one second), so every reader sees the same numbers however often it asks; GC time is cumulative, so
 * the sidecar can turn it into a rate. Read from the thread's one runtime sampler (@beamline/core),
 * which the pressure monitor shares.
 */
export interface RuntimeSnapshot {
  /** Length of the window the delay and utilization describe, in seconds. */
  readonly windowSeconds: number
  /** `nodejs.eventloop.delay.*`, in seconds. */
  readonly eventLoopDelay: {
    readonly min: number
    readonly max: number
    readonly mean: number
    readonly stddev: number
    readonly p50: number
    readonly p90: number
    readonly p99: number
  }
  /** `nodejs.eventloop.utilization`: fraction of the window the loop was busy, 0 to 1. */
  readonly eventLoopUtilization: number
  /** `v8js.gc.duration` by `v8js.gc.type` (major, minor, incremental, weakcb), cumulative. */
  readonly gc: Readonly<Record<string, { readonly count: number; readonly seconds: number }>>
  /** `v8js.memory.heap.*` by `v8js.heap.space.name`, in bytes. */
  readonly heapSpaces: Readonly<
    Record<
      string,
      { readonly used: number; readonly limit: number; readonly available: number; readonly physical: number }
    >
  >
  /** `process.memory.usage`: resident set size in bytes. */
  readonly rssBytes: number
}

/** The exporter's hold on the thread's runtime sampler, read as the snapshot's `runtime` section. */
export class RuntimeSampler {
  constructor(private readonly sampler: CoreSampler) {}

  read(): RuntimeSnapshot {
    const window = this.sampler.eventLoopWindow()
    return {
      windowSeconds: window.windowSeconds,
      eventLoopDelay: window.delay,
      eventLoopUtilization: window.utilization,
      gc: this.sampler.gcTotals(),
      heapSpaces: this.sampler.heapSpaces(),
      rssBytes: process.memoryUsage.rss(),
    }
  }

  release(): void {
    this.sampler.release()
  }
}

/** Holds this thread's runtime sampler (event loop and GC); pair with `releaseRuntimeSampler`. */
export function acquireRuntimeSampler(): RuntimeSampler {
  return new RuntimeSampler(acquireCore())
}

export function releaseRuntimeSampler(sampler: RuntimeSampler): void {
  sampler.release()
}
