/**
 * What a mailbox is configured with and what it reports: its options, validated once at creation
 * (registry.mailbox() and registry.lanes()) into the settings the queue runs on, and the shape of its
 * statistics. The queue itself: ./mailbox.ts.
 */
import {
  choiceOption,
  functionOption,
  InvalidOptionError,
  integerOption,
  nameOption,
  numberOption,
} from '@beamline/core'

export type OverflowMode = 'reject' | 'drop-oldest'
/**
 * Why an accepted item left without being dequeued (what onDrop is told). `overload` drops are counted
 * in `dropped.expired`. Items of a thread that died are counted in `dropped.abandoned` by the registry;
 * nobody is left to call onDrop for them.
 */
export type DropReason = 'overflow' | 'expired' | 'overload'

export interface OverloadOptions {
  /** Sojourn time (ms) an item may wait without counting as queueing delay. Finite, > 0. Facebook uses 5. */
  targetMs: number
  /** How long (ms) the sojourn must stay above target before shedding starts. Finite, > 0. Facebook uses 100. */
  intervalMs: number
}

export interface MailboxOptions<T> {
  /**
   * Aggregation key in registry.stats().byGroup. Names may be many (one per session); groups should be
   * few (at most the registry's `maxGroups`). Non-empty, at most 200 UTF-8 bytes. Default: the name.
   */
  group?: string
  /** Most items queued at once. Integer from 1 to 2^30. Default 10 000 (GenStage's buffer_size). */
  capacity?: number
  /**
   * What a push into a full mailbox does. `'reject'` (default): push() returns false, the item stays
   * with the caller and counts in `rejected`. `'drop-oldest'`: the oldest item is evicted (counted in
   * `dropped.overflow`, passed to onDrop) and the new one accepted: GenStage's `buffer_keep: :last`.
   */
  overflow?: OverflowMode
  /**
   * Items that waited longer than this (ms) are dropped when they reach the head at dequeue time (or
   * when a push finds the mailbox full), counted in `dropped.expired` and passed to onDrop. Finite, > 0.
   * Default: no age limit.
   */
  maxAgeMs?: number
  /**
   * CoDel-style shedding (Facebook's "Fail at Scale"): once the sojourn time of dequeued items has
   * stayed above `targetMs` for `intervalMs`, items at the head that waited longer than `targetMs` are
   * dropped (counted in `dropped.expired`, reason `'overload'`) until one under target is found or the
   * queue empties. Default: off.
   */
  overload?: OverloadOptions
  /**
   * Called synchronously with every accepted item that is dropped (evicted, expired or shed), after
   * the queue's state is updated. A throw is reported once (process warning) and ignored.
   */
  onDrop?: (item: T, reason: DropReason) => void
}

export interface DropCounts {
  /** Accepted items evicted to make room (`'drop-oldest'`). */
  overflow: number
  /** Accepted items dropped because they waited too long (`maxAgeMs`, or shed by `overload`). */
  expired: number
  /**
   * Items still queued in a mailbox whose thread died, counted when the registry reclaimed it. Always 0
   * in a mailbox's own stats() and top() rows: only registry totals and groups count them.
   */
  abandoned: number
}

export interface MailboxStats {
  name: string
  group: string
  /** Items queued now. */
  length: number
  /** Highest length since creation. */
  peak: number
  /** Items accepted. */
  enqueued: number
  /** Items handed to a consumer (shift, drain, iteration, consume). */
  dequeued: number
  /** Pushes refused because the mailbox was full (`'reject'`); never enqueued. */
  rejected: number
  dropped: DropCounts
  /** Milliseconds the oldest queued item has waited; 0 when empty, and 0 for an observed queue. */
  oldestAgeMs: number
  /**
   * A queue sampled by `registry.observe()`: its length is a sample, its counters are 0 and its items
   * have no enqueue time, so `oldestAgeMs` means nothing. False for a mailbox.
   */
  observed: boolean
}

/** Validated mailbox settings, shared by registry.mailbox() and registry.lanes(). */
export interface MailboxSettings<T> {
  group: string | undefined
  capacity: number
  overflow: OverflowMode
  maxAgeMs: number
  targetMs: number
  intervalMs: number
  onDrop: ((item: T, reason: DropReason) => void) | undefined
}

export const MAX_CAPACITY = 1 << 30
const DEFAULT_CAPACITY = 10_000

export function mailboxSettings<T>(
  options: MailboxOptions<T> | undefined,
  capacityOption = 'capacity',
): MailboxSettings<T> {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidOptionError('options', 'must be an object')
  }
  const o = (options ?? {}) as MailboxOptions<T> & Record<string, unknown>
  let targetMs = Infinity
  let intervalMs = Infinity
  if (o.overload !== undefined) {
    if (typeof o.overload !== 'object' || o.overload === null) {
      throw new InvalidOptionError('overload', 'must be an object { targetMs, intervalMs }')
    }
    targetMs = numberOption('overload.targetMs', o.overload.targetMs, { min: 0, exclusiveMin: true })
    intervalMs = numberOption('overload.intervalMs', o.overload.intervalMs, { min: 0, exclusiveMin: true })
  }
  return {
    group: o.group === undefined ? undefined : nameOption('group', o.group),
    capacity: integerOption(capacityOption, o[capacityOption], 1, MAX_CAPACITY, DEFAULT_CAPACITY),
    overflow: choiceOption('overflow', o.overflow, ['reject', 'drop-oldest'] as const, 'reject'),
    maxAgeMs:
      o.maxAgeMs === undefined
        ? Infinity
        : numberOption('maxAgeMs', o.maxAgeMs, { min: 0, exclusiveMin: true }),
    targetMs,
    intervalMs,
    onDrop: functionOption('onDrop', o.onDrop),
  }
}
