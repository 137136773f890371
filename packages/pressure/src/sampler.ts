/**
 * Reads every configured signal once per sample, off the request path (the monitor's unref'd timer
 * calls it). Only the signals that have thresholds are measured: an unconfigured event-loop histogram
 * or GC observer costs nothing.
 *
 *  - queuedMessages, longestQueue: the registry's `stats()` at the sample, one call for both.
 *  - gcFraction: GC pause milliseconds (PerformanceObserver 'gc') over wall milliseconds, summed over
 *    the samples in the window. GC entries arrive asynchronously, at most one sample late.
 *  - eventLoopDelayP99Ms: monitorEventLoopDelay at 10 ms resolution, reset every sample; the value is
 *    the largest per-sample p99 in the window (with ≈10 delay samples per 100 ms interval, a p99 over
 *    the window is dominated by its worst interval anyway, and the max reacts at once).
 *  - eventLoopUtilization: active over total event-loop time over the window (this thread's loop).
 *  - heapUsedRatio: V8 used heap over the heap size limit (--max-old-space-size), at the sample.
 */
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'
import { warnOnce } from '@beamline/core'
import { SIGNALS, type SignalName } from './signals.js'
import { SampleWindow } from './window.js'

/**
 * What the monitor needs of a queue registry: `@beamline/mailbox`'s registry satisfies it, and so does
 * any object whose `stats()` returns the total queued and the longest queue.
 */
export interface QueueRegistry {
  stats(): { totalQueued: number; longest: { length: number } | null }
}

/** Replaces the built-in measurement of a signal: called once per sample, returns its current value. */
export type SignalSource = () => number

const GC = SIGNALS.indexOf('gcFraction')
const DELAY = SIGNALS.indexOf('eventLoopDelayP99Ms')
const ELU = SIGNALS.indexOf('eventLoopUtilization')
const HEAP = SIGNALS.indexOf('heapUsedRatio')
const QUEUED = SIGNALS.indexOf('queuedMessages')
const LONGEST = SIGNALS.indexOf('longestQueue')

export interface SamplerOptions {
  configured: readonly boolean[]
  windowSamples: number
  registry: QueueRegistry | undefined
  sources: Partial<Record<SignalName, SignalSource>>
}

export class Sampler {
  readonly #configured: readonly boolean[]
  readonly #custom: (SignalSource | undefined)[]
  readonly #registry: QueueRegistry | undefined
  #gcObserver: PerformanceObserver | undefined
  #gcPendingMs = 0
  #gcWindow: SampleWindow | undefined
  #lastWall = performance.now()
  #delay: ReturnType<typeof monitorEventLoopDelay> | undefined
  #delayWindow: SampleWindow | undefined
  #elu = performance.eventLoopUtilization()
  #eluWindow: SampleWindow | undefined

  constructor(options: SamplerOptions) {
    this.#configured = options.configured
    this.#registry = options.registry
    this.#custom = SIGNALS.map((name) => options.sources[name])
    const builtIn = (i: number) => options.configured[i] === true && this.#custom[i] === undefined
    if (builtIn(GC)) {
      this.#gcWindow = new SampleWindow(options.windowSamples)
      this.#gcObserver = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) this.#gcPendingMs += entry.duration
      })
      this.#gcObserver.observe({ entryTypes: ['gc'] })
    }
    if (builtIn(DELAY)) {
      this.#delayWindow = new SampleWindow(options.windowSamples)
      this.#delay = monitorEventLoopDelay({ resolution: 10 })
      this.#delay.enable()
    }
    if (builtIn(ELU)) this.#eluWindow = new SampleWindow(options.windowSamples)
  }

  /** Writes the current value of every configured signal into `out[i]`; a failing source keeps its last value. */
  read(out: Float64Array): void {
    const wall = performance.now()
    const elapsed = wall - this.#lastWall
    this.#lastWall = wall
    if (this.#gcWindow) {
      this.#gcWindow.push(this.#gcPendingMs, elapsed)
      this.#gcPendingMs = 0
      out[GC] = Math.min(1, this.#gcWindow.ratio())
    }
    if (this.#delay && this.#delayWindow) {
      this.#delayWindow.push(this.#delay.count > 0 ? this.#delay.percentile(99) / 1e6 : 0, 1)
      this.#delay.reset()
      out[DELAY] = this.#delayWindow.max()
    }
    if (this.#eluWindow) {
      const now = performance.eventLoopUtilization()
      const delta = performance.eventLoopUtilization(now, this.#elu)
      this.#elu = now
      this.#eluWindow.push(delta.active, delta.active + delta.idle)
      out[ELU] = this.#eluWindow.ratio()
    }
    if (this.#configured[HEAP] && this.#custom[HEAP] === undefined) {
      const heap = getHeapStatistics()
      out[HEAP] = heap.used_heap_size / heap.heap_size_limit
    }
    if (this.#registry && (this.#wantsBuiltIn(QUEUED) || this.#wantsBuiltIn(LONGEST))) this.#readRegistry(out)
    for (let i = 0; i < SIGNALS.length; i++) {
      const source = this.#custom[i]
      if (source && this.#configured[i]) out[i] = checked(SIGNALS[i]!, () => source(), out[i]!)
    }
  }

  #wantsBuiltIn(i: number): boolean {
    return this.#configured[i] === true && this.#custom[i] === undefined
  }

  #readRegistry(out: Float64Array): void {
    try {
      const stats = this.#registry!.stats()
      if (this.#wantsBuiltIn(QUEUED))
        out[QUEUED] = checked('queuedMessages', () => stats.totalQueued, out[QUEUED]!)
      if (this.#wantsBuiltIn(LONGEST))
        out[LONGEST] = checked('longestQueue', () => stats.longest?.length ?? 0, out[LONGEST]!)
    } catch (error) {
      warnOnce(
        'pressure.registry',
        'beamline pressure: registry.stats() threw; the queue signals keep their last value',
        error,
      )
    }
  }

  close(): void {
    this.#gcObserver?.disconnect()
    this.#delay?.disable()
  }
}

/** A signal's value from `read`, or `last` (with one warning) when it throws or is not a finite number. */
function checked(signal: string, read: () => number, last: number): number {
  try {
    const value = read()
    if (typeof value === 'number' && Number.isFinite(value)) return value
    warnOnce(
      `pressure.source.${signal}`,
      `beamline pressure: source of ${signal} returned ${String(value)}; keeping its last value`,
    )
  } catch (error) {
    warnOnce(
      `pressure.source.${signal}`,
      `beamline pressure: source of ${signal} threw; keeping its last value`,
      error,
    )
  }
  return last
}
