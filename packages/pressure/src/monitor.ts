/*
 * One pressure level for the whole process, computed in one thread and read by all of them: the
 * sampling loop (signals → hysteresis → level and score) and the per-request reads. What is published
 * and how it is read consistently: ./shared-level.ts (memory layout: ./layout.ts); options:
 * ./monitor-options.ts. `level` and `admit()` in any thread are one Atomics.load of LEVEL.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { checkHandle, checkSharedBuffer, type SharedHandle } from '@beamline/core'
import { Hysteresis } from './hysteresis.js'
import {
  BUFFER_BYTES,
  HANDLE_KIND,
  LAYOUT_VERSION,
  LEVEL,
  SCORE,
  STOPPED,
  shedIndex,
  throttleIndex,
} from './layout.js'
import { DEFAULT_MAX_ROUTES, monitorSettings, type PressureMonitorOptions } from './monitor-options.js'
import { Sampler } from './sampler.js'
import { type PressureLevel, SharedLevel } from './shared-level.js'
import { ShedCounter, type ShedStat } from './shed-stats.js'
import { type PressureReason, SIGNALS, type Thresholds } from './signals.js'

export type { PressureMonitorOptions } from './monitor-options.js'
export type { PressureLevel } from './shared-level.js'

/** `admit()` priorities: `low` work is throttled first, `critical` work passes even at shed. */
export const Priority = { low: 0, normal: 1, critical: 2 } as const

/** Plain data plus the buffer: survives `structuredClone`, so send it through `workerData` or `postMessage`. */
export interface PressureHandle extends SharedHandle<typeof HANDLE_KIND> {
  readonly buffer: SharedArrayBuffer
}

export interface PressureChange {
  from: PressureLevel
  to: PressureLevel
  score: number
  reasons: PressureReason[]
}

export interface Readiness {
  /** False from level `notReadyAt` (default 2, shedding) up; see `PressureMonitor.readiness()`. */
  ready: boolean
  level: PressureLevel
  score: number
  reasons: PressureReason[]
}

/** What `attach()` passes to the constructor: a checked handle, never mistaken for options. */
class Attach {
  constructor(readonly handle: PressureHandle) {}
}

/** The sampling side, which only the monitor that created the buffer has. */
interface Owner {
  readonly sampler: Sampler
  readonly hysteresis: Hysteresis
  readonly sampleIntervalMs: number
  readonly coolDownMs: number
  readonly now: () => number
}

/**
 * Combines queue length, GC time, event-loop delay and utilization and heap use into one level
 * (0 ok, 1 throttle, 2 shed) and a score in [0, 1], published in shared memory so that every worker
 * thread reads it with one atomic load (`PressureMonitor.attach(handle)`).
 *
 * Events: `'change'` with `{ from, to, score, reasons }`, emitted in the sampling thread only.
 */
export class PressureMonitor extends EventEmitter<{ change: [PressureChange] }> {
  readonly #handle: PressureHandle
  readonly #shared: SharedLevel
  /** The shared views, also in #shared: the hot path (`level`, `admit()`) reads them directly. */
  readonly #i32: Int32Array
  readonly #f64: Float64Array
  readonly #sheds: ShedCounter
  readonly #random: () => number
  /** Undefined in an attached view. */
  readonly #owner: Owner | undefined
  readonly #values = new Float64Array(SIGNALS.length)
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  /** The published score and when it was computed, for its release. */
  #score = 0
  #scoredAt = Number.NaN

  constructor(options: PressureMonitorOptions | Attach = {}) {
    super()
    let autoStart = false
    if (options instanceof Attach) {
      const buffer = checkSharedBuffer(HANDLE_KIND, 'buffer', options.handle.buffer, BUFFER_BYTES)
      this.#handle = options.handle
      this.#shared = new SharedLevel(buffer)
      this.#sheds = new ShedCounter(DEFAULT_MAX_ROUTES)
      this.#random = Math.random
      this.#owner = undefined
    } else {
      const settings = monitorSettings(options)
      autoStart = settings.autoStart
      const buffer = new SharedArrayBuffer(BUFFER_BYTES)
      this.#handle = { kind: HANDLE_KIND, version: LAYOUT_VERSION, buffer }
      this.#shared = new SharedLevel(buffer, settings.thresholds)
      this.#sheds = new ShedCounter(settings.maxRoutes)
      this.#random = settings.random ?? Math.random
      this.#owner = {
        sampler: new Sampler({
          configured: this.#shared.configured,
          windowSamples: Math.max(1, Math.round(settings.windowMs / settings.sampleIntervalMs)),
          registry: settings.registry,
          sources: settings.sources,
        }),
        hysteresis: new Hysteresis(SIGNALS.length, settings.coolDownMs),
        sampleIntervalMs: settings.sampleIntervalMs,
        coolDownMs: settings.coolDownMs,
        now: settings.now ?? performance.now.bind(performance),
      }
    }
    this.#i32 = this.#shared.i32
    this.#f64 = this.#shared.f64
    if (autoStart) this.start()
  }

  /** A read-only view of a monitor owned by another thread: level, score, reasons, admit; no sampling. */
  static attach(handle: PressureHandle): PressureMonitor {
    return new PressureMonitor(new Attach(checkHandle<PressureHandle>(handle, HANDLE_KIND, LAYOUT_VERSION)))
  }

  /** Send this to worker threads (workerData or postMessage) and `attach` it there. */
  get handle(): PressureHandle {
    return this.#handle
  }

  /** 0 ok, 1 throttle, 2 shed. One Atomics.load; cheap enough for every request. */
  get level(): PressureLevel {
    return Atomics.load(this.#i32, LEVEL) as PressureLevel
  }

  /**
   * 0..1, continuous: the largest over signals of how far each is between its throttle (0) and shed
   * (1) thresholds, so it grows before the level changes and keeps growing within level 1. It rises at
   * once but falls by at most 1 per `coolDownMs` (linearly), so that admission at throttle does not
   * snap back to "admit all" the moment a queue has drained and refill it in one burst.
   */
  get score(): number {
    return this.#shared.snapshot().score
  }

  /** Signals holding the level at 1 or 2 (including ones still cooling down), strongest first. */
  get reasons(): PressureReason[] {
    return this.#shared.reasonsOf(this.#shared.snapshot())
  }

  /** `Date.now()` of the latest sample; 0 before the first. A stale value means the sampling thread is stuck. */
  get sampledAt(): number {
    return this.#shared.snapshot().sampledAt
  }

  /** Latest value of every configured signal, keyed by its threshold name. */
  signals(): Record<string, number> {
    const snap = this.#shared.snapshot()
    const out: Record<string, number> = {}
    for (const [i, name] of SIGNALS.entries()) if (this.#shared.configured[i]) out[name] = snap.values[i]!
    return out
  }

  /** The configured `[throttle, shed]` pairs. */
  thresholds(): Thresholds {
    return this.#shared.thresholds()
  }

  /**
   * Whether to take on a unit of work now. Level 0: always. Level 1 (throttle): `critical` always;
   * otherwise refused with probability `score × (1 − priority / 2)`, so `low` (0, the default) work is
   * refused with probability `score` and `normal` (1) with half of it. Level 2 (shed): only `critical`
   * (priority ≥ 2). Priorities are clamped to 0..2. Does not count anything: see `recordShed`.
   */
  admit(priority = 0): boolean {
    const level = Atomics.load(this.#i32, LEVEL)
    if (level === 0 || priority >= 2) return true
    if (level === 2) return false
    const p = Math.max(priority, 0)
    return this.#random() >= this.#f64[SCORE]! * (1 - p / 2)
  }

  /**
   * Counts one refusal of `route` because of `reason` (a signal name, or your own word); `shedStats()`
   * reports the counts. Route and reason labels are bounded (see `maxRoutes`). Counts are per thread:
   * each attached view keeps its own.
   */
  recordShed(route: string, reason: string): void {
    this.#sheds.record(route, reason)
  }

  /** Refusals by route and reason since creation, as recorded by `httpShedder` and `recordShed`. */
  shedStats(): ShedStat[] {
    return this.#sheds.stats()
  }

  /** The strongest reason's signal name, or 'pressure' at level 0; what a refusal is counted under. */
  topReason(): string {
    return this.reasons[0]?.signal ?? 'pressure'
  }

  /**
   * For `/readyz`: not ready while shedding (level 2), so a load balancer stops sending traffic that
   * would be refused anyway; ready again once the level drops. `notReadyAt: 1` also fails at throttle.
   */
  readiness(notReadyAt: 1 | 2 = 2): Readiness {
    const snap = this.#shared.snapshot()
    const level = this.level
    return { ready: level < notReadyAt, level, score: snap.score, reasons: this.#shared.reasonsOf(snap) }
  }

  /**
   * Starts the sampling timer (unref'd, so it never keeps the process alive). Owner only; idempotent;
   * a stopped monitor stays stopped.
   */
  start(): void {
    const owner = this.#owner
    if (owner === undefined || this.#timer || this.#stopped) return
    this.#timer = setInterval(() => this.sample(), owner.sampleIntervalMs)
    this.#timer.unref()
  }

  /**
   * Takes one sample now and publishes the result; the timer calls it every `sampleIntervalMs`.
   * Emits 'change' when the level moves. A no-op in attached views.
   */
  sample(): void {
    const owner = this.#owner
    if (owner === undefined || this.#stopped) return
    const { hysteresis, coolDownMs } = owner
    const configured = this.#shared.configured
    const now = owner.now()
    const values = this.#values
    owner.sampler.read(values)
    let throttleMask = 0
    let shedMask = 0
    let score = 0
    for (let i = 0; i < SIGNALS.length; i++) {
      if (!configured[i]) continue
      const value = values[i]!
      const throttle = this.#f64[throttleIndex(i)]!
      const shed = this.#f64[shedIndex(i)]!
      const level = hysteresis.step(i, value >= shed ? 2 : value >= throttle ? 1 : 0, now)
      if (level >= 1) throttleMask |= 1 << i
      if (level === 2) shedMask |= 1 << i
      const s = (value - throttle) / (shed - throttle)
      if (s > score) score = Math.min(s, 1)
    }
    // Fast attack, linear release over coolDownMs; tiny remainders of the release count as 0.
    if (coolDownMs > 0 && !Number.isNaN(this.#scoredAt)) {
      const released = this.#score - (now - this.#scoredAt) / coolDownMs
      if (released > score && released > 1e-9) score = released
    }
    this.#score = score
    this.#scoredAt = now
    const from = Atomics.load(this.#i32, LEVEL) as PressureLevel
    const to: PressureLevel = shedMask !== 0 ? 2 : throttleMask !== 0 ? 1 : 0
    this.#shared.publish(throttleMask, shedMask, score, values, to)
    if (from !== to) this.emit('change', { from, to, score, reasons: this.reasons })
  }

  /**
   * Stops sampling for good, releases the GC observer and event-loop histogram, and resets the level
   * to 0 so that no thread keeps shedding on a frozen reading. Idempotent; a no-op in attached views.
   */
  stop(): void {
    const owner = this.#owner
    if (owner === undefined || this.#stopped) return
    this.#stopped = true
    clearInterval(this.#timer)
    this.#timer = undefined
    owner.sampler.close()
    owner.hysteresis.reset()
    this.#score = 0
    Atomics.store(this.#i32, STOPPED, 1)
    this.#shared.publish(0, 0, 0, this.#values, 0)
  }

  /** True after the owning monitor was stopped (readable from any thread). */
  get stopped(): boolean {
    return Atomics.load(this.#i32, STOPPED) === 1
  }
}
