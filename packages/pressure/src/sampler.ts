/**
 * Reads every configured signal once per sample, off the request path (the monitor's unref'd timer
 * calls it). Only the signals that have thresholds are measured: without the GC or event-loop signals
 * the thread's runtime sampler (@beamline/core, shared with the exporter) is not held for them.
 *
 *  - queuedMessages, longestQueue: the registry's `stats()` at the sample, one call for both.
 *  - gcFraction: GC pause milliseconds over wall milliseconds, summed over the samples in the window;
 *    the pauses come from the runtime sampler's cumulative `v8js.gc.duration`. GC entries arrive
 *    asynchronously, at most one sample late.
 *  - eventLoopDelayP99Ms: the runtime sampler's event-loop-delay histogram (10 ms resolution): the p99
 *    of its window in progress at each sample, in ms; the value is the largest of those in the window.
 *    The histogram's window rotates every second, so a spike counts from the sample after it until
 *    `windowMs` after the rotation that ends its window.
 *  - eventLoopUtilization: active over total event-loop time over the window (this thread's loop).
 *  - heapUsedRatio: V8 used heap over the heap size limit (--max-old-space-size), at the sample.
 */
import { performance } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'
import { acquireRuntimeSampler, type RuntimeSampler, warnOnce } from '@beamline/core'
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
  readonly #runtime: RuntimeSampler | undefined
  #gcWindow: SampleWindow | undefined
  #gcSeenMs = 0
  #lastWall = performance.now()
  #delayWindow: SampleWindow | undefined
  #elu = performance.eventLoopUtilization()
  #eluWindow: SampleWindow | undefined

  constructor(options: SamplerOptions) {
    this.#configured = options.configured
    this.#registry = options.registry
    this.#custom = SIGNALS.map((name) => options.sources[name])
    const builtIn = (i: number) => options.configured[i] === true && this.#custom[i] === undefined
    if (builtIn(GC) || builtIn(DELAY)) {
      this.#runtime = acquireRuntimeSampler({ gc: builtIn(GC), eventLoop: builtIn(DELAY) })
      this.#gcSeenMs = this.#runtime.gcSeconds() * 1000
    }
    if (builtIn(GC)) this.#gcWindow = new SampleWindow(options.windowSamples)
    if (builtIn(DELAY)) this.#delayWindow = new SampleWindow(options.windowSamples)
    if (builtIn(ELU)) this.#eluWindow = new SampleWindow(options.windowSamples)
  }

  /** Writes the current value of every configured signal into `out[i]`; a failing source keeps its last value. */
  read(out: Float64Array): void {
    const wall = performance.now()
    const elapsed = wall - this.#lastWall
    this.#lastWall = wall
    const runtime = this.#runtime
    if (this.#gcWindow && runtime) {
      const seenMs = runtime.gcSeconds() * 1000
      this.#gcWindow.push(seenMs - this.#gcSeenMs, elapsed)
      this.#gcSeenMs = seenMs
      out[GC] = Math.min(1, this.#gcWindow.ratio())
    }
    if (this.#delayWindow && runtime) {
      this.#delayWindow.push(runtime.delayP99InProgress() * 1000, 1)
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
    this.#runtime?.release()
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
