/**
 * The options of a PressureMonitor and their validation: every option is checked once, at
 * construction, with @beamline/core's helpers, and turned into the settings the monitor runs on.
 */
import {
  booleanOption,
  functionOption,
  InvalidOptionError,
  integerOption,
  numberOption,
} from '@beamline/core'
import type { QueueRegistry, SignalSource } from './sampler.js'
import {
  DEFAULT_THRESHOLDS,
  FRACTION_SIGNALS,
  QUEUE_SIGNALS,
  SIGNALS,
  type SignalName,
  type Threshold,
  type Thresholds,
} from './signals.js'

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

/** Validated options of a sampling (owning) monitor. */
export interface MonitorSettings {
  registry: QueueRegistry | undefined
  sources: Partial<Record<SignalName, SignalSource>>
  /** `[throttle, shed]` by index in SIGNALS, for the configured signals only. */
  thresholds: Map<number, Threshold>
  sampleIntervalMs: number
  windowMs: number
  coolDownMs: number
  maxRoutes: number
  now: (() => number) | undefined
  random: (() => number) | undefined
  autoStart: boolean
}

/** Defaults that attached (read-only) views use too. */
export const DEFAULT_MAX_ROUTES = 50
const MAX_MS = 600_000

export function monitorSettings(options: PressureMonitorOptions): MonitorSettings {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object')
  const registry = options.registry
  if (
    registry !== undefined &&
    (typeof registry !== 'object' || registry === null || typeof registry.stats !== 'function')
  ) {
    throw new InvalidOptionError('registry', 'must have a stats() method (a @beamline/mailbox registry)')
  }
  const maxRoutes = integerOption('maxRoutes', options.maxRoutes, 1, 10_000, DEFAULT_MAX_ROUTES)
  const random = functionOption<() => number>('random', options.random)
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
  const now = functionOption<() => number>('now', options.now)
  const autoStart = booleanOption('autoStart', options.autoStart, true)
  return {
    registry,
    sources,
    thresholds,
    sampleIntervalMs,
    windowMs,
    coolDownMs,
    maxRoutes,
    now,
    random,
    autoStart,
  }
}

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
  const out: Partial<Record<SignalName, SignalSource>> = {}
  for (const [name, fn] of Object.entries(value)) {
    if (!SIGNALS.includes(name as SignalName))
      throw new InvalidOptionError(`sources.${name}`, `unknown signal; known: ${SIGNALS.join(', ')}`)
    if (fn === undefined) throw new InvalidOptionError(`sources.${name}`, 'must be a function, got undefined')
    out[name as SignalName] = functionOption<SignalSource>(`sources.${name}`, fn)
  }
  return out
}
