import { InvalidOptionError } from './errors.js'

/** A readable rendering of a value for error messages: strings quoted, objects named by type. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value)
  return typeof value
}

/**
 * Returns `value` if it is an integer in [min, max]; otherwise throws `ERR_BEAMLINE_INVALID_OPTION`
 * naming the option and the range. `undefined` takes `fallback` when one is given.
 */
export function integerOption(
  name: string,
  value: unknown,
  min: number,
  max: number,
  fallback?: number,
): number {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`
    throw new InvalidOptionError(name, `must be ${range}, got ${show(value)}`)
  }
  return value
}

/**
 * Returns `value` if it is a finite number in the range; `exclusiveMin` makes the lower bound strict
 * (for durations and rates that must be > 0).
 */
export function numberOption(
  name: string,
  value: unknown,
  range: { min?: number; max?: number; exclusiveMin?: boolean },
  fallback?: number,
): number {
  if (value === undefined && fallback !== undefined) return fallback
  const { min = -Infinity, max = Infinity, exclusiveMin = false } = range
  const belowMin = exclusiveMin ? (value as number) <= min : (value as number) < min
  if (typeof value !== 'number' || !Number.isFinite(value) || belowMin || value > max) {
    const lower = min === -Infinity ? '' : `${exclusiveMin ? '>' : '≥'} ${min}`
    const upper = max === Infinity ? '' : `≤ ${max}`
    throw new InvalidOptionError(
      name,
      `must be a finite number ${[lower, upper].filter(Boolean).join(' and ')}, got ${show(value)}`,
    )
  }
  return value
}

/** Returns `value` if it is one of `choices`. */
export function choiceOption<T extends string>(
  name: string,
  value: unknown,
  choices: readonly T[],
  fallback?: T,
): T {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw new InvalidOptionError(
      name,
      `must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${show(value)}`,
    )
  }
  return value as T
}

/** A surrogate not part of a pair (a pair is one code point under the u flag). */
const LONE_SURROGATE = /\p{Surrogate}/u

/** Returns `value` if it is a non-empty string of at most `maxBytes` UTF-8 bytes. */
export function nameOption(name: string, value: unknown, maxBytes = 200): string {
  if (typeof value !== 'string' || value.length === 0 || Buffer.byteLength(value) > maxBytes) {
    throw new InvalidOptionError(
      name,
      `must be a non-empty string of at most ${maxBytes} UTF-8 bytes, got ${show(value)}`,
    )
  }
  // Names are kept in shared memory as UTF-8, where a lone surrogate becomes U+FFFD: the name would
  // come back changed, and two different names could become the same one.
  if (LONE_SURROGATE.test(value)) {
    throw new InvalidOptionError(name, `must be well-formed Unicode (no lone surrogate), got ${show(value)}`)
  }
  return value
}

/** Returns `value` if it is a function; `undefined` gives `fallback` (itself undefined when none). */
export function functionOption<F extends (...args: never[]) => unknown>(
  name: string,
  value: unknown,
): F | undefined
export function functionOption<F extends (...args: never[]) => unknown>(
  name: string,
  value: unknown,
  fallback: F,
): F
export function functionOption<F extends (...args: never[]) => unknown>(
  name: string,
  value: unknown,
  fallback?: F,
): F | undefined {
  if (value === undefined) return fallback
  if (typeof value !== 'function')
    throw new InvalidOptionError(name, `must be a function, got ${show(value)}`)
  return value as F
}

/** Returns `value` if it is a boolean; `undefined` takes `fallback` when one is given. */
export function booleanOption(name: string, value: unknown, fallback?: boolean): boolean {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'boolean')
    throw new InvalidOptionError(name, `must be a boolean (true or false), got ${show(value)}`)
  return value
}

/**
 * Returns `value` if it is a plain object (not null, not an array), for nested options such as
 * `queue.codel`; `undefined` gives `fallback` (itself undefined when none). `holds` completes the
 * message: `must be an object with name and max`.
 */
export function objectOption<T extends object>(name: string, value: unknown): T | undefined
export function objectOption<T extends object>(name: string, value: unknown, fallback: T, holds?: string): T
export function objectOption<T extends object>(
  name: string,
  value: unknown,
  fallback?: T,
  holds?: string,
): T | undefined {
  if (value === undefined && fallback !== undefined) return fallback
  if (value === undefined && holds === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidOptionError(name, `must be an object${holds ? ` ${holds}` : ''}, got ${show(value)}`)
  return value as T
}

/** The options argument of a constructor, which is required: `holds` says what it must hold (`with name and max`). */
export function optionsObject<T extends object>(value: unknown, holds: string): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidOptionError('options', `must be an object ${holds}, got ${show(value)}`)
  return value as T
}

/** The longest delay setTimeout can wait, in ms (a longer one would fire after 1 ms). */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * An optional `timeoutMs` of a waiting call: `undefined` (wait without a deadline), or milliseconds
 * from 0 (fail at once instead of waiting) to `MAX_TIMER_MS` (about 24.8 days).
 */
export function timeoutOption(name: string, value: unknown): number | undefined {
  return value === undefined ? undefined : numberOption(name, value, { min: 0, max: MAX_TIMER_MS })
}
