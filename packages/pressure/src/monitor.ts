/*
 * One pressure level for the whole process, computed in one thread and read by all of them.
 * Memory layout, writers, and why each access is Atomics or plain: see ./layout.ts. In short: the
 * sampling thread publishes per-signal values, reason bit masks and the score under a seqlock (SEQ),
 * then stores LEVEL; `level` and `admit()` in any thread are one Atomics.load of LEVEL.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import {
  checkHandle,
  checkSharedBuffer,
  InvalidOptionError,
  integerOption,
  numberOption,
  type SharedHandle,
  seqReadBegin,
  seqReadValid,
  seqWriteBegin,
  seqWriteEnd,
} from '@beamline/core'
import { Hysteresis } from './hysteresis.js'
import {
  BUFFER_BYTES,
  CONFIGURED_MASK,
  HANDLE_KIND,
  LAYOUT_VERSION,
  LEVEL,
  SAMPLED_AT,
  SCORE,
  SEQ,
  SHED_MASK,
  STOPPED,
  shedIndex,
  THROTTLE_MASK,
  throttleIndex,
  valueIndex,
} from './layout.js'
import { type QueueRegistry, Sampler, type SignalSource } from './sampler.js'
import { ShedCounter, type ShedStat } from './shed-stats.js'
import {
  DEFAULT_THRESHOLDS,
  FRACTION_SIGNALS,
  type PressureReason,
  QUEUE_SIGNALS,
  SIGNALS,
  type SignalName,
  type Threshold,
  type Thresholds,
} from './signals.js'

export type PressureLevel = 0 | 1 | 2

/** `admit()` priorities: `low` work is throttled first, `critical` work passes even at shed. */
export const Priority = { low: 0, normal: 1, critical: 2 } as const

export interface PressureMonitorOptions {
  /**
   * Source of the queue signals (`queuedMessages`, `longestQueue`): a `@beamline/mailbox` registry,
   * or any object whose `stats()` returns `{ totalQueued, longest: { length } | null }`. Required
   * when a queue signal has a threshold (unless `sources` provides it). Called once per sample.
   */
  registry?: QueueRegistry
  /**
   * `[throttle, shed]` per signal: at `value ≥ throttle` the signal asks for level 1, at `value ≥ shed`
   * for level 2. Both finite and ≥ 0 with throttle < shed; fractions (`gcFraction`,
   * `eventLoopUtilization`, `heapUsedRatio`) at most 1. Signals left out are not measured at all.
   * Default: every runtime signal at `DEFAULT_THRESHOLDS`, plus the queue signals when `registry` is
   * given. Pass `{}` to measure nothing (level stays 0; useful with `recordShed` only).
   */
  thresholds?: Thresholds
  /** Milliseconds between samples. Number > 0 and ≤ 60 000. Default 100 (≈0.1 % CPU, see the README). */
  sampleIntervalMs?: number
  /**
   * Milliseconds of history behind the windowed signals (gcFraction, eventLoopUtilization,
   * eventLoopDelayP99Ms). Number ≥ sampleIntervalMs and ≤ 600 000. Default 1 000.
   */
  windowMs?: number
  /**
   * Milliseconds a signal must stay below its current level before the level drops (hysteresis).
   * Levels rise at the first sample over a threshold. Number ≥ 0 and ≤ 600 000; 0 drops at the first
   * sample below. Default 2 000.
   */
  coolDownMs?: number
  /** Refusals are counted per route for at most this many routes; the rest count as 'other'. Integer 1–10 000. Default 50. */
  maxRoutes?: number
  /**
   * Replaces the built-in measurement of a signal by a function returning its current value, called
   * once per sample (a custom queue depth, a signal from another process; or a deterministic driver in
   * tests). The signal still needs a threshold.
   */
  sources?: Partial<Record<SignalName, SignalSource>>
  /** Monotonic clock in milliseconds used for cool-downs. Default `performance.now`. */
  now?: () => number
  /** Uniform random number in [0, 1) used by `admit()`. Default `Math.random`. */
  random?: () => number
  /** Start the sampling timer. Default true; false leaves sampling to explicit `sample()` calls. */
  autoStart?: boolean
}

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

interface Snapshot {
  throttleMask: number
  shedMask: number
  score: number
  sampledAt: number
  values: number[]
}

const ATTACH = Symbol('attach')
const MAX_MS = 600_000

function validateThresholds(value: unknown, hasRegistry: boolean, sources: object): Map<number, Threshold> {
  const out = new Map<number, Threshold>()
  if (value === undefined) {
    for (const [i, name] of SIGNALS.entries()) {
      if (!QUEUE_SIGNALS.includes(name) || hasRegistry) out.set(i, DEFAULT_THRESHOLDS[name])
    }
    return out
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError('thresholds', 'must be an object of [throttle, shed] pairs')
  }
  for (const [name, pair] of Object.entries(value)) {
    const i = SIGNALS.indexOf(name as SignalName)
    if (i < 0)
      throw new InvalidOptionError(`thresholds.${name}`, `unknown signal; known: ${SIGNALS.join(', ')}`)
    if (pair === undefined) continue
    const field = `thresholds.${name}`
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new InvalidOptionError(field, 'must be a [throttle, shed] pair')
    const max = FRACTION_SIGNALS.includes(name as SignalName) ? 1 : Number.MAX_VALUE
    const throttle = numberOption(`${field}[0]`, pair[0], { min: 0, max })
    const shed = numberOption(`${field}[1]`, pair[1], { min: 0, max })
    if (!(throttle < shed))
      throw new InvalidOptionError(
        field,
        `thresholds must increase (throttle < shed), got [${throttle}, ${shed}]`,
      )
    if (QUEUE_SIGNALS.includes(name as SignalName) && !hasRegistry && !(name in sources)) {
      throw new InvalidOptionError(
        'registry',
        `is required for the ${name} threshold (or give sources.${name})`,
      )
    }
    out.set(i, [throttle, shed])
  }
  return out
}

function validateSources(value: unknown): Partial<Record<SignalName, SignalSource>> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null)
    throw new InvalidOptionError('sources', 'must be an object of functions')
  for (const [name, fn] of Object.entries(value)) {
    if (!SIGNALS.includes(name as SignalName))
      throw new InvalidOptionError(`sources.${name}`, `unknown signal; known: ${SIGNALS.join(', ')}`)
    if (typeof fn !== 'function')
      throw new InvalidOptionError(`sources.${name}`, 'must be a function returning a number')
  }
  return value as Partial<Record<SignalName, SignalSource>>
}

function optionalFunction<F>(name: string, value: unknown, fallback: F): F {
  if (value === undefined) return fallback
  if (typeof value !== 'function') throw new InvalidOptionError(name, 'must be a function')
  return value as F
}

/**
 * Combines queue length, GC time, event-loop delay and utilization and heap use into one level
 * (0 ok, 1 throttle, 2 shed) and a score in [0, 1], published in shared memory so that every worker
 * thread reads it with one atomic load (`PressureMonitor.attach(handle)`).
 *
 * Events: `'change'` with `{ from, to, score, reasons }`, emitted in the sampling thread only.
 */
export class PressureMonitor extends EventEmitter<{ change: [PressureChange] }> {
  /** Shared memory; pass `handle` to workers. */
  readonly #i32: Int32Array
  readonly #f64: Float64Array
  readonly #handle: PressureHandle
  readonly #owner: boolean
  readonly #configured: readonly boolean[]
  readonly #sheds: ShedCounter
  readonly #random: () => number
  // Owner only.
  readonly #sampler: Sampler | undefined
  readonly #hysteresis: Hysteresis | undefined
  readonly #values = new Float64Array(SIGNALS.length)
  readonly #now: () => number = performance.now.bind(performance)
  readonly #sampleIntervalMs: number = 0
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  readonly #coolDownMs: number = 0
  /** The published score and when it was computed, for its release. */
  #score = 0
  #scoredAt = Number.NaN

  constructor(options: PressureMonitorOptions = {}) {
    super()
    if (typeof options !== 'object' || options === null)
      throw new InvalidOptionError('options', 'must be an object')
    const attached = (options as { [ATTACH]?: PressureHandle })[ATTACH]
    const maxRoutes = attached ? 50 : integerOption('maxRoutes', options.maxRoutes, 1, 10_000, 50)
    this.#sheds = new ShedCounter(maxRoutes)
    this.#random = optionalFunction('random', attached ? undefined : options.random, Math.random)
    if (attached) {
      const buffer = checkSharedBuffer(HANDLE_KIND, 'buffer', attached.buffer, BUFFER_BYTES)
      this.#handle = attached
      this.#owner = false
      this.#i32 = new Int32Array(buffer)
      this.#f64 = new Float64Array(buffer)
      const mask = this.#i32[CONFIGURED_MASK]!
      this.#configured = SIGNALS.map((_, i) => (mask & (1 << i)) !== 0)
      return
    }
    const registry = options.registry
    if (
      registry !== undefined &&
      (typeof registry !== 'object' || registry === null || typeof registry.stats !== 'function')
    ) {
      throw new InvalidOptionError('registry', 'must have a stats() method (a @beamline/mailbox registry)')
    }
    const sources = validateSources(options.sources)
    const thresholds = validateThresholds(options.thresholds, registry !== undefined, sources)
    const sampleIntervalMs = numberOption(
      'sampleIntervalMs',
      options.sampleIntervalMs,
      { min: 0, max: 60_000, exclusiveMin: true },
      100,
    )
    const windowMs = numberOption(
      'windowMs',
      options.windowMs,
      { min: sampleIntervalMs, max: MAX_MS },
      Math.max(1_000, sampleIntervalMs),
    )
    const coolDownMs = numberOption('coolDownMs', options.coolDownMs, { min: 0, max: MAX_MS }, 2_000)
    this.#now = optionalFunction('now', options.now, this.#now)
    const autoStart = options.autoStart ?? true
    if (typeof autoStart !== 'boolean') throw new InvalidOptionError('autoStart', 'must be a boolean')

    const buffer = new SharedArrayBuffer(BUFFER_BYTES)
    this.#i32 = new Int32Array(buffer)
    this.#f64 = new Float64Array(buffer)
    let mask = 0
    for (const [i, [throttle, shed]] of thresholds) {
      mask |= 1 << i
      this.#f64[throttleIndex(i)] = throttle
      this.#f64[shedIndex(i)] = shed
    }
    this.#i32[CONFIGURED_MASK] = mask
    this.#configured = SIGNALS.map((_, i) => thresholds.has(i))
    this.#handle = { kind: HANDLE_KIND, version: LAYOUT_VERSION, buffer }
    this.#owner = true
    this.#sampleIntervalMs = sampleIntervalMs
    this.#coolDownMs = coolDownMs
    this.#hysteresis = new Hysteresis(SIGNALS.length, coolDownMs)
    this.#sampler = new Sampler({
      configured: this.#configured,
      windowSamples: Math.max(1, Math.round(windowMs / sampleIntervalMs)),
      registry,
      sources,
    })
    if (autoStart) this.start()
  }

  /** A read-only view of a monitor owned by another thread: level, score, reasons, admit; no sampling. */
  static attach(handle: PressureHandle): PressureMonitor {
    const h = checkHandle<PressureHandle>(handle, HANDLE_KIND, LAYOUT_VERSION)
    return new PressureMonitor({ [ATTACH]: h } as PressureMonitorOptions)
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
    return this.#snapshot().score
  }

  /** Signals holding the level at 1 or 2 (including ones still cooling down), strongest first. */
  get reasons(): PressureReason[] {
    return this.#reasonsOf(this.#snapshot())
  }

  /** `Date.now()` of the latest sample; 0 before the first. A stale value means the sampling thread is stuck. */
  get sampledAt(): number {
    return this.#snapshot().sampledAt
  }

  /** Latest value of every configured signal, keyed by its threshold name. */
  signals(): Record<string, number> {
    const snap = this.#snapshot()
    const out: Record<string, number> = {}
    for (const [i, name] of SIGNALS.entries()) if (this.#configured[i]) out[name] = snap.values[i]!
    return out
  }

  /** The configured `[throttle, shed]` pairs. */
  thresholds(): Thresholds {
    const out: Record<string, Threshold> = {}
    for (const [i, name] of SIGNALS.entries()) {
      if (this.#configured[i]) out[name] = [this.#f64[throttleIndex(i)]!, this.#f64[shedIndex(i)]!]
    }
    return out
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
    const snap = this.#snapshot()
    const level = this.level
    return { ready: level < notReadyAt, level, score: snap.score, reasons: this.#reasonsOf(snap) }
  }

  /**
   * Starts the sampling timer (unref'd, so it never keeps the process alive). Owner only; idempotent;
   * a stopped monitor stays stopped.
   */
  start(): void {
    if (!this.#owner || this.#timer || this.#stopped) return
    this.#timer = setInterval(() => this.sample(), this.#sampleIntervalMs)
    this.#timer.unref()
  }

  /**
   * Takes one sample now and publishes the result; the timer calls it every `sampleIntervalMs`.
   * Emits 'change' when the level moves. A no-op in attached views.
   */
  sample(): void {
    const hysteresis = this.#hysteresis
    if (!this.#owner || this.#stopped || !hysteresis || !this.#sampler) return
    const now = this.#now()
    const values = this.#values
    this.#sampler.read(values)
    let throttleMask = 0
    let shedMask = 0
    let score = 0
    for (let i = 0; i < SIGNALS.length; i++) {
      if (!this.#configured[i]) continue
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
    if (this.#coolDownMs > 0 && !Number.isNaN(this.#scoredAt)) {
      const released = this.#score - (now - this.#scoredAt) / this.#coolDownMs
      if (released > score && released > 1e-9) score = released
    }
    this.#score = score
    this.#scoredAt = now
    const from = Atomics.load(this.#i32, LEVEL) as PressureLevel
    const to: PressureLevel = shedMask !== 0 ? 2 : throttleMask !== 0 ? 1 : 0
    this.#publish(throttleMask, shedMask, score, values, to)
    if (from !== to) this.emit('change', { from, to, score, reasons: this.reasons })
  }

  /**
   * Stops sampling for good, releases the GC observer and event-loop histogram, and resets the level
   * to 0 so that no thread keeps shedding on a frozen reading. Idempotent; a no-op in attached views.
   */
  stop(): void {
    if (!this.#owner || this.#stopped) return
    this.#stopped = true
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#sampler?.close()
    this.#hysteresis?.reset()
    this.#score = 0
    Atomics.store(this.#i32, STOPPED, 1)
    this.#publish(0, 0, 0, this.#values, 0)
  }

  /** True after the owning monitor was stopped (readable from any thread). */
  get stopped(): boolean {
    return Atomics.load(this.#i32, STOPPED) === 1
  }

  #publish(
    throttleMask: number,
    shedMask: number,
    score: number,
    values: Float64Array,
    level: PressureLevel,
  ): void {
    const i32 = this.#i32
    const f64 = this.#f64
    seqWriteBegin(i32, SEQ)
    Atomics.store(i32, THROTTLE_MASK, throttleMask)
    Atomics.store(i32, SHED_MASK, shedMask)
    f64[SCORE] = score
    f64[SAMPLED_AT] = Date.now()
    for (let i = 0; i < SIGNALS.length; i++) f64[valueIndex(i)] = values[i]!
    seqWriteEnd(i32, SEQ)
    Atomics.store(i32, LEVEL, level)
  }

  #snapshot(): Snapshot {
    const i32 = this.#i32
    const f64 = this.#f64
    // A publication takes microseconds, but the OS may preempt the writer in the middle of one, so
    // readers spin for as long as it takes. Only a writer terminated mid-publication could leave SEQ
    // odd for good; after a second of that a possibly mixed snapshot beats a hang.
    let deadline = 0
    for (let attempt = 1; ; attempt++) {
      const seq = seqReadBegin(i32, SEQ)
      const stuck = (attempt & 1023) === 0 && performance.now() > (deadline ||= performance.now() + 1_000)
      if ((seq & 1) === 0 || stuck) {
        const snap: Snapshot = {
          throttleMask: Atomics.load(i32, THROTTLE_MASK),
          shedMask: Atomics.load(i32, SHED_MASK),
          score: f64[SCORE]!,
          sampledAt: f64[SAMPLED_AT]!,
          values: SIGNALS.map((_, i) => f64[valueIndex(i)]!),
        }
        if (seqReadValid(i32, SEQ, seq) || stuck) return snap
      }
    }
  }

  #reasonsOf(snap: Snapshot): PressureReason[] {
    const reasons: PressureReason[] = []
    for (const [i, signal] of SIGNALS.entries()) {
      if ((snap.throttleMask & (1 << i)) === 0) continue
      const throttle = this.#f64[throttleIndex(i)]!
      const shed = this.#f64[shedIndex(i)]!
      reasons.push({
        signal,
        value: snap.values[i]!,
        throttle,
        shed,
        level: (snap.shedMask & (1 << i)) !== 0 ? 2 : 1,
      })
    }
    // Strongest first: level, then how far past its throttle threshold the value is.
    const strength = (r: PressureReason) => r.level * 10 + (r.value - r.throttle) / (r.shed - r.throttle)
    return reasons.sort((a, b) => strength(b) - strength(a))
  }
}
