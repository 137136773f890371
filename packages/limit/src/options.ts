import {
  choiceOption,
  functionOption,
  InvalidOptionError,
  integerOption,
  nameOption,
  numberOption,
} from '@beamline/core'
import { MAX_PERMITS } from '@beamline/semaphore'
import { ALGORITHMS, MAX_PARTITIONS } from './layout.js'

export type AlgorithmName = (typeof ALGORITHMS)[number]

export interface CodelOptions {
  /**
   * Milliseconds a request may wait once the queue is standing: a waiter older than this is refused
   * (`ERR_BEAMLINE_LIMIT_TIMEOUT`, reason `codel`) when the queue has not been empty for `intervalMs`.
   * Greater than 0 and less than `intervalMs`. Default 5 (Facebook's "Fail at Scale").
   */
  targetMs?: number
  /**
   * Milliseconds the queue must have been non-empty before `targetMs` refuses anyone: the first
   * interval of a busy period lets a burst wait, a queue that stays longer is standing. Greater than
   * `targetMs`, at most 3 600 000. Default 100.
   */
  intervalMs?: number
}

export interface QueueOptions {
  /**
   * Requests that may wait for a slot, all threads together; one more is refused at once with
   * `ERR_BEAMLINE_LIMIT_QUEUE_FULL`. Integer from 0 (never wait: `acquire()` at the limit fails with
   * `ERR_BEAMLINE_LIMIT_EXCEEDED`) to 2^30. Default 100.
   */
  maxWaiters?: number
  /**
   * Hard bound on a wait, in milliseconds, whatever the queue does: then `ERR_BEAMLINE_LIMIT_TIMEOUT`
   * (reason `maxWait`). Greater than 0, at most 2 147 483 647. Default 1000.
   */
  maxWaitMs?: number
  /** CoDel on the queue (see `CodelOptions`); `false` never refuses a waiter before `maxWaitMs`. Default `{ targetMs: 5, intervalMs: 100 }`. */
  codel?: CodelOptions | false
  /**
   * Serve the newest waiter first while the queue is standing — by CoDel's own signal, its oldest
   * waiter has waited longer than `codel.targetMs` (`codel.intervalMs` with `codel: false`): the
   * oldest waiters' clients are the likeliest to have given up, and a fresh request served at once
   * is worth more than an old one served late. First come, first served otherwise. Default true.
   */
  lifoWhenStanding?: boolean
}

export interface AdaptiveLimitOptions {
  /** Shown in `stats()`, errors and metrics (label `limit`). Non-empty, at most 200 UTF-8 bytes. */
  name: string
  /**
   * How the limit moves: `'gradient2'` (default), `'vegas'`, `'aimd'` or `'fixed'` (stays at
   * `initialLimit`). See the README for each and why gradient2 is the default.
   */
  algorithm?: AlgorithmName
  /** Limit to start from. Integer from `minLimit` to `maxLimit`. Default 20 (clamped into [minLimit, maxLimit]). */
  initialLimit?: number
  /** The limit never falls below this. Integer from 1 to `maxLimit`. Default 1. */
  minLimit?: number
  /** The limit never rises above this. Integer from `minLimit` to 2^30. Default 1000. */
  maxLimit?: number
  /** The wait for a slot (`acquire`, `call`, `httpLimiter`); `false` for none (`maxWaiters: 0`). */
  queue?: QueueOptions | false
  /**
   * Guaranteed shares of the limit by partition name, each in [0, 1], summing to 1 (±0.001); at most
   * 8 partitions. A partition always gets its share (`floor`ed, at least 1 token for a share > 0 while
   * the limit allows); a share it does not use is lent to the others until it asks for it back. A
   * share of 0 only ever borrows: it is what runs when nothing else wants the capacity. Default: one
   * partition, `'default'`.
   */
  partitions?: Record<string, number>
  /**
   * Threads that may attach at once (each takes a slot of 192 + 80 × partitions bytes, rounded up to
   * 64). Integer from 1 to 4096. Default 256. A worker's slot is freed when it exits.
   */
  maxThreads?: number
  /**
   * Clock in milliseconds for this instance, for simulations and tests. Default `performance.now`.
   * Attached instances in other threads always use `performance.timeOrigin + performance.now()`, so a
   * custom clock only makes sense in a single thread.
   */
  now?: () => number
}

export interface ResolvedOptions {
  name: string
  algorithm: number
  initialLimit: number
  minLimit: number
  maxLimit: number
  maxWaiters: number
  maxWaitMs: number
  /** Infinity with `codel: false`. */
  targetMs: number
  intervalMs: number
  lifo: boolean
  partitionNames: string[]
  shares: number[]
  maxThreads: number
  now: (() => number) | undefined
}

const MAX_TIMER_MS = 2 ** 31 - 1

function objectOption<T extends object>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidOptionError(name, 'must be an object')
  return value as T
}

export function resolveOptions(options: AdaptiveLimitOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object with at least a name')
  const name = nameOption('name', options.name)
  const algorithm = ALGORITHMS.indexOf(choiceOption('algorithm', options.algorithm, ALGORITHMS, 'gradient2'))
  const maxLimit = integerOption('maxLimit', options.maxLimit, 1, MAX_PERMITS, 1000)
  const minLimit = integerOption('minLimit', options.minLimit, 1, MAX_PERMITS, 1)
  if (minLimit > maxLimit)
    throw new InvalidOptionError('minLimit', `must be ≤ maxLimit (${maxLimit}), got ${minLimit}`)
  const initialLimit =
    options.initialLimit === undefined
      ? Math.max(minLimit, Math.min(maxLimit, 20))
      : integerOption('initialLimit', options.initialLimit, minLimit, maxLimit)

  let queue = objectOption<QueueOptions>('queue', options.queue === false ? { maxWaiters: 0 } : options.queue)
  queue ??= {}
  const maxWaiters = integerOption('queue.maxWaiters', queue.maxWaiters, 0, MAX_PERMITS, 100)
  const maxWaitMs = numberOption(
    'queue.maxWaitMs',
    queue.maxWaitMs,
    { min: 0, max: MAX_TIMER_MS, exclusiveMin: true },
    1000,
  )
  let targetMs = Number.POSITIVE_INFINITY
  let intervalMs = 100
  if (queue.codel !== false) {
    const codel = objectOption<CodelOptions>('queue.codel', queue.codel) ?? {}
    intervalMs = numberOption(
      'queue.codel.intervalMs',
      codel.intervalMs,
      { min: 0, max: 3_600_000, exclusiveMin: true },
      100,
    )
    targetMs = numberOption(
      'queue.codel.targetMs',
      codel.targetMs,
      { min: 0, max: MAX_TIMER_MS, exclusiveMin: true },
      5,
    )
    if (!(targetMs < intervalMs))
      throw new InvalidOptionError(
        'queue.codel.targetMs',
        `must be < queue.codel.intervalMs (${intervalMs}), got ${targetMs}`,
      )
  }
  const lifo = queue.lifoWhenStanding ?? true
  if (typeof lifo !== 'boolean') throw new InvalidOptionError('queue.lifoWhenStanding', 'must be a boolean')

  const partitions = objectOption<Record<string, number>>('partitions', options.partitions) ?? { default: 1 }
  const partitionNames = Object.keys(partitions)
  if (partitionNames.length < 1 || partitionNames.length > MAX_PARTITIONS)
    throw new InvalidOptionError(
      'partitions',
      `must name from 1 to ${MAX_PARTITIONS} partitions, got ${partitionNames.length}`,
    )
  const shares = partitionNames.map((p) => {
    nameOption(`partitions (a name)`, p)
    return numberOption(`partitions.${p}`, partitions[p], { min: 0, max: 1 })
  })
  const sum = shares.reduce((a, b) => a + b, 0)
  if (Math.abs(sum - 1) > 0.001)
    throw new InvalidOptionError('partitions', `shares must sum to 1 (±0.001), got ${Number(sum.toFixed(6))}`)
  const normalized = shares.map((s) => s / sum)

  const maxThreads = integerOption('maxThreads', options.maxThreads, 1, 4096, 256)
  const now = functionOption<() => number>('now', options.now)
  return {
    name,
    algorithm,
    initialLimit,
    minLimit,
    maxLimit,
    maxWaiters,
    maxWaitMs,
    targetMs,
    intervalMs,
    lifo,
    partitionNames,
    shares: normalized,
    maxThreads,
    now,
  }
}

/**
 * Tokens per partition for `limit`: `limit × share` rounded down, the remainder to the largest
 * fractions, and at least one token for every positive share while there are enough tokens, so that
 * no partition with a share is starved by rounding. Sums to `limit` exactly.
 */
export function guaranteedShares(limit: number, shares: readonly number[]): number[] {
  const exact = shares.map((s) => s * limit)
  const out = exact.map(Math.floor)
  let left = limit - out.reduce((a, b) => a + b, 0)
  const positive = shares.flatMap((s, p) => (s > 0 ? [p] : []))
  const byFraction = [...positive].sort((a, b) => exact[b]! - out[b]! - (exact[a]! - out[a]!) || a - b)
  for (let k = 0; left > 0; k = (k + 1) % byFraction.length, left--) out[byFraction[k]!]!++
  if (limit >= positive.length) {
    // Some partition holds two or more (pigeonhole): it gives one to each share rounded to nothing.
    for (const p of positive) {
      if (out[p] !== 0) continue
      out[out.indexOf(Math.max(...out))]!--
      out[p] = 1
    }
  }
  return out
}
