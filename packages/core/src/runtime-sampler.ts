/**
 * The thread's one runtime sampler: one event-loop-delay histogram and one GC observer per thread,
 * whoever reads them (the pressure monitor, the exporter's snapshot, the in-process collectors).
 * Each costs the service something — the histogram a timer wake-up every 10 ms, the observer a
 * callback per collection — so readers share them, reference counted per part: the histogram runs
 * while some reader wants the event loop, the observer while some reader wants GC.
 *
 * Readings follow the OpenTelemetry semantic conventions for Node.js and V8, in base units:
 *  - `nodejs.eventloop.delay.{min,max,mean,stddev,p50,p90,p99}`, seconds, and
 *    `nodejs.eventloop.utilization`, 0 to 1: over the last complete window of WINDOW_MS (the window
 *    rotates on a timer, never on a read, so every reader sees the same numbers however often it asks);
 *    `delayP99InProgress()` is the p99 of the window still being filled, for a reader that must react
 *    within the window (the pressure monitor).
 *  - `v8js.gc.duration` by `v8js.gc.type` (major, minor, incremental, weakcb), cumulative seconds and
 *    counts since the thread first observed GC; they never decrease, even when the observer stops
 *    between two readers (collections meanwhile are not counted).
 *  - `v8js.memory.heap.*` by `v8js.heap.space.name`, bytes, read at the call.
 */
import {
  constants,
  type ELDHistogram,
  type EventLoopUtilization,
  monitorEventLoopDelay,
  PerformanceObserver,
  performance,
} from 'node:perf_hooks'
import { getHeapSpaceStatistics } from 'node:v8'

/** `nodejs.eventloop.delay.*` of one window, in seconds (0 when the window recorded nothing). */
export interface EventLoopDelay {
  readonly min: number
  readonly max: number
  readonly mean: number
  readonly stddev: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
}

/** The event loop over one window. */
export interface EventLoopWindow {
  /** Length of the window, in seconds. */
  readonly windowSeconds: number
  readonly delay: EventLoopDelay
  /** `nodejs.eventloop.utilization`: fraction of the window the loop was busy, 0 to 1. */
  readonly utilization: number
}

/** Cumulative `v8js.gc.duration` of one `v8js.gc.type`. */
export interface GcTotal {
  readonly count: number
  readonly seconds: number
}

/** `v8js.memory.heap.used`, `…limit`, `v8js.heap.space.available_size`, `…physical_size` of one space, bytes. */
export interface HeapSpace {
  readonly used: number
  readonly limit: number
  readonly available: number
  readonly physical: number
}

/** Which parts a reader needs; each runs only while some reader holds it. */
export interface RuntimeParts {
  /** The event-loop-delay histogram and utilization window. */
  readonly eventLoop?: boolean
  /** The GC observer. */
  readonly gc?: boolean
}

/** One reader's hold on the thread's sampler; `release()` it when done (idempotent). */
export interface RuntimeSampler {
  /** The last complete window (until the first completes, the one in progress). Zeros without `eventLoop`. */
  eventLoopWindow(): EventLoopWindow
  /** p99 of the event-loop delay recorded in the window in progress, in seconds; 0 before any. */
  delayP99InProgress(): number
  /** Cumulative GC by `v8js.gc.type`: a fresh object the caller may keep. */
  gcTotals(): Record<string, GcTotal>
  /** Cumulative GC seconds of every type together. */
  gcSeconds(): number
  /** Heap spaces by `v8js.heap.space.name`, now. */
  heapSpaces(): Record<string, HeapSpace>
  release(): void
}

/** Length of the event-loop window. One second: what the sidecar polls at, and under-pressure samples at. */
export const RUNTIME_WINDOW_MS = 1000
/** Histogram resolution: finer sampling costs a timer wake-up per resolution in the service itself. */
const RESOLUTION_MS = 10
const NS = 1e-9

const GC_TYPES: Readonly<Record<number, string>> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
}

const ZERO_DELAY: EventLoopDelay = { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 }

function delayOf(h: ELDHistogram): EventLoopDelay {
  if (h.count === 0) return ZERO_DELAY
  return {
    min: h.min * NS,
    max: h.max * NS,
    mean: h.mean * NS,
    stddev: h.stddev * NS,
    p50: h.percentile(50) * NS,
    p90: h.percentile(90) * NS,
    p99: h.percentile(99) * NS,
  }
}

/** The event-loop part: one histogram, rotated every RUNTIME_WINDOW_MS. */
class EventLoopPart {
  private readonly histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  private readonly timer: NodeJS.Timeout
  private elu: EventLoopUtilization = performance.eventLoopUtilization()
  private windowStart = performance.now()
  private last: EventLoopWindow | undefined

  constructor() {
    this.histogram.enable()
    this.timer = setInterval(() => this.rotate(), RUNTIME_WINDOW_MS)
    this.timer.unref()
  }

  private inProgress(): EventLoopWindow {
    return {
      windowSeconds: (performance.now() - this.windowStart) / 1000,
      delay: delayOf(this.histogram),
      utilization: performance.eventLoopUtilization(this.elu).utilization,
    }
  }

  private rotate(): void {
    this.last = this.inProgress()
    this.histogram.reset()
    this.elu = performance.eventLoopUtilization()
    this.windowStart = performance.now()
  }

  window(): EventLoopWindow {
    return this.last ?? this.inProgress()
  }

  p99InProgress(): number {
    return this.histogram.count === 0 ? 0 : this.histogram.percentile(99) * NS
  }

  stop(): void {
    clearInterval(this.timer)
    this.histogram.disable()
  }
}

/** Cumulative for the thread's lifetime: a restarted observer continues them. */
const gc: Record<string, { count: number; seconds: number }> = {}
let gcSecondsTotal = 0

function gcObserver(): PerformanceObserver {
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? 0
      const slot = (gc[GC_TYPES[kind] ?? 'other'] ??= { count: 0, seconds: 0 })
      const seconds = entry.duration / 1000
      slot.count++
      slot.seconds += seconds
      gcSecondsTotal += seconds
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  return observer
}

let eventLoop: EventLoopPart | undefined
let eventLoopRefs = 0
let observer: PerformanceObserver | undefined
let gcRefs = 0

class Lease implements RuntimeSampler {
  private held: { eventLoop: boolean; gc: boolean } | undefined

  constructor(parts: RuntimeParts) {
    const held = { eventLoop: parts.eventLoop === true, gc: parts.gc === true }
    if (held.eventLoop && eventLoopRefs++ === 0) eventLoop = new EventLoopPart()
    if (held.gc && gcRefs++ === 0) observer = gcObserver()
    this.held = held
  }

  eventLoopWindow(): EventLoopWindow {
    return eventLoop?.window() ?? { windowSeconds: 0, delay: ZERO_DELAY, utilization: 0 }
  }

  delayP99InProgress(): number {
    return eventLoop?.p99InProgress() ?? 0
  }

  gcTotals(): Record<string, GcTotal> {
    const out: Record<string, GcTotal> = {}
    for (const [type, v] of Object.entries(gc)) out[type] = { count: v.count, seconds: v.seconds }
    return out
  }

  gcSeconds(): number {
    return gcSecondsTotal
  }

  heapSpaces(): Record<string, HeapSpace> {
    const out: Record<string, HeapSpace> = {}
    for (const s of getHeapSpaceStatistics()) {
      out[s.space_name] = {
        used: s.space_used_size,
        limit: s.space_size,
        available: s.space_available_size,
        physical: s.physical_space_size,
      }
    }
    return out
  }

  release(): void {
    const held = this.held
    if (!held) return
    this.held = undefined
    if (held.eventLoop && --eventLoopRefs === 0) {
      eventLoop?.stop()
      eventLoop = undefined
    }
    if (held.gc && --gcRefs === 0) {
      observer?.disconnect()
      observer = undefined
    }
  }
}

/**
 * A hold on this thread's runtime sampler, starting the parts asked for (both by default) if no other
 * reader runs them yet. Pair with `release()`.
 */
export function acquireRuntimeSampler(parts: RuntimeParts = { eventLoop: true, gc: true }): RuntimeSampler {
  return new Lease(parts)
}

/** Parts running now, by how many readers hold each: for tests and diagnostics. */
export function runtimeSamplerRefs(): { readonly eventLoop: number; readonly gc: number } {
  return { eventLoop: eventLoopRefs, gc: gcRefs }
}
