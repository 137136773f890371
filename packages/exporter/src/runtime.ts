import {
  constants,
  type ELDHistogram,
  type EventLoopUtilization,
  monitorEventLoopDelay,
  PerformanceObserver,
  performance,
} from 'node:perf_hooks'
import { getHeapSpaceStatistics } from 'node:v8'

/**
 * Runtime signals of the thread that serves the snapshot, named after the OpenTelemetry semantic
 * conventions for Node.js and V8 (`nodejs.eventloop.delay.*`, `nodejs.eventloop.utilization`,
 * `v8js.gc.duration`, `v8js.memory.heap.*`). Delay and utilization describe the last complete window
 * (one second by default), so every reader sees the same numbers however often it asks; GC time is
 * cumulative, so the sidecar can turn it into a rate.
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

const GC_TYPES: Readonly<Record<number, string>> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
}

const NS = 1e-9

/**
 * One per thread, shared by every exporter and collector of the thread (reference counted), because
 * each sampler costs a histogram timer and a GC observer.
 */
class RuntimeSampler {
  private readonly histogram: ELDHistogram
  private readonly observer: PerformanceObserver
  private readonly timer: NodeJS.Timeout
  private readonly gc: Record<string, { count: number; seconds: number }> = {}
  private elu: EventLoopUtilization
  private windowStart = performance.now()
  private last: Pick<RuntimeSnapshot, 'windowSeconds' | 'eventLoopDelay' | 'eventLoopUtilization'> | undefined
  refs = 0

  constructor(readonly windowMs: number) {
    // 10 ms resolution: finer sampling costs a timer wake-up per resolution in the service itself.
    this.histogram = monitorEventLoopDelay({ resolution: 10 })
    this.histogram.enable()
    this.elu = performance.eventLoopUtilization()
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? 0
        const type = GC_TYPES[kind] ?? 'other'
        const slot = (this.gc[type] ??= { count: 0, seconds: 0 })
        slot.count++
        slot.seconds += entry.duration / 1000
      }
    })
    this.observer.observe({ entryTypes: ['gc'] })
    this.timer = setInterval(() => this.rotate(), windowMs)
    this.timer.unref()
  }

  private window(): NonNullable<RuntimeSampler['last']> {
    const h = this.histogram
    const empty = h.count === 0
    const now = performance.now()
    return {
      windowSeconds: (now - this.windowStart) / 1000,
      eventLoopDelay: {
        min: empty ? 0 : h.min * NS,
        max: empty ? 0 : h.max * NS,
        mean: empty ? 0 : h.mean * NS,
        stddev: empty ? 0 : h.stddev * NS,
        p50: empty ? 0 : h.percentile(50) * NS,
        p90: empty ? 0 : h.percentile(90) * NS,
        p99: empty ? 0 : h.percentile(99) * NS,
      },
      eventLoopUtilization: performance.eventLoopUtilization(this.elu).utilization,
    }
  }

  private rotate(): void {
    this.last = this.window()
    this.histogram.reset()
    this.elu = performance.eventLoopUtilization()
    this.windowStart = performance.now()
  }

  read(): RuntimeSnapshot {
    const heapSpaces: Record<string, RuntimeSnapshot['heapSpaces'][string]> = {}
    for (const s of getHeapSpaceStatistics()) {
      heapSpaces[s.space_name] = {
        used: s.space_used_size,
        limit: s.space_size,
        available: s.space_available_size,
        physical: s.physical_space_size,
      }
    }
    const gc: Record<string, { count: number; seconds: number }> = {}
    for (const [type, v] of Object.entries(this.gc)) gc[type] = { count: v.count, seconds: v.seconds }
    // Until the first window completes, report the partial one rather than zeros.
    return { ...(this.last ?? this.window()), gc, heapSpaces, rssBytes: process.memoryUsage.rss() }
  }

  stop(): void {
    clearInterval(this.timer)
    this.observer.disconnect()
    this.histogram.disable()
  }
}

let shared: RuntimeSampler | undefined

/** Returns this thread's sampler, starting it on first use; pair with `releaseRuntimeSampler`. */
export function acquireRuntimeSampler(windowMs = 1000): RuntimeSampler {
  shared ??= new RuntimeSampler(windowMs)
  shared.refs++
  return shared
}

export function releaseRuntimeSampler(sampler: RuntimeSampler): void {
  if (--sampler.refs > 0 || sampler !== shared) return
  sampler.stop()
  shared = undefined
}

export type { RuntimeSampler }
