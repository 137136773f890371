/*
 * One bounded, instrumented FIFO queue. The items live in this thread's heap; the queue's statistics
 * live in its slot of the registry's SharedArrayBuffer (layout: ./layout.ts), written by this thread
 * alone with plain stores so any thread's registry.stats() can read them.
 *
 * The queue is a ring buffer that grows by doubling up to `capacity` (rounded up to a power of two),
 * with a parallel Float64Array of enqueue timestamps: no wrapper object per item. Timestamps come from
 * the coarse clock (./clock.ts).
 */
import {
  choiceOption,
  functionOption,
  InvalidOptionError,
  integerOption,
  nameOption,
  numberOption,
  warnOnce,
} from '@beamline/core'
import { coarseNow, preciseNow } from './clock.js'
import { type BatchHandler, type ConsumeOptions, type Consumer, consumeSettings, Pump } from './consumer.js'
import { MailboxClosedError } from './errors.js'
import {
  DEQUEUED,
  ENQUEUED,
  EXPIRED,
  GROUP_COUNTER,
  HEAD_TS,
  LENGTH,
  OVERFLOW,
  PEAK,
  REJECTED,
  slotIndex,
  U_NONEMPTY,
  U_QUEUED,
} from './layout.js'
import type { SlotTable } from './table.js'

export type OverflowMode = 'reject' | 'drop-oldest'
/** Why an accepted item left without being dequeued. `overload` drops are counted in `dropped.expired`. */
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
  /** Milliseconds the oldest queued item has waited; 0 when empty. */
  oldestAgeMs: number
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

export const MAX_CAPACITY = 2 ** 30
const DEFAULT_CAPACITY = 10_000
/** A drained mailbox gives back ring storage larger than this, so one burst does not pin memory. */
const KEEP_STORAGE = 1024
const FIRST_STORAGE = 8
const EMPTY = Symbol('empty')
const NO_TIMESTAMPS = new Float64Array(0)
/** Where a mailbox without a slot (or a released one) stores its hot-path statistics: nobody reads it. */
const SCRATCH_I32 = new Int32Array(4)
const SCRATCH_F64 = new Float64Array(8)

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

/** Token that keeps the constructor internal: mailboxes are made by `registry.mailbox()`. */
export const CREATE = Symbol('create')

/**
 * A bounded FIFO whose statistics every thread can see through its registry. Create with
 * `registry.mailbox(name, options)`.
 *
 * Closing: `close()` stops accepting (push() then throws ERR_BEAMLINE_MAILBOX_CLOSED); items already
 * queued can still be taken (shift, drain, iteration, consume). Iteration and consumers finish once
 * the mailbox is closed and empty, and at that moment the registry slot is freed (its counters are
 * folded into the group's totals, so no count is lost).
 */
export class Mailbox<T> implements AsyncIterable<T> {
  readonly name: string
  readonly group: string
  readonly capacity: number
  readonly overflow: OverflowMode
  readonly #table: SlotTable
  readonly #groupId: number
  /** Registry slot, or -1 when the registry was full: statistics then go to group-only counters. */
  #slot: number
  #i32: Int32Array
  #f64: Float64Array
  /** Int32 index of the slot (0 in the scratch arrays). */
  #s: number
  /** Float64 index of the slot. */
  #f: number
  readonly #groupOnly: boolean
  readonly #maxAgeMs: number
  readonly #targetMs: number
  readonly #intervalMs: number
  readonly #expiring: boolean
  readonly #onDrop: ((item: T, reason: DropReason) => void) | undefined
  #items: (T | undefined)[] = []
  #ts: Float64Array = NO_TIMESTAMPS
  #mask = 0
  #head = 0
  #len = 0
  #peak = 0
  #enqueued = 0
  #dequeued = 0
  #rejected = 0
  #overflowed = 0
  #expired = 0
  /** CoDel: when the head's sojourn first went above target, plus intervalMs; 0 when below. */
  #firstAbove = 0
  #closed = false
  #released = false
  #waiters: (() => void)[] = []

  /** @internal */
  constructor(
    token: typeof CREATE,
    table: SlotTable,
    name: string,
    settings: MailboxSettings<T>,
    slotKind: number,
  ) {
    if (token !== CREATE) throw new TypeError('Mailbox: use registry.mailbox(name, options)')
    this.name = name
    this.group = settings.group ?? name
    this.capacity = settings.capacity
    this.overflow = settings.overflow
    this.#maxAgeMs = settings.maxAgeMs
    this.#targetMs = settings.targetMs
    this.#intervalMs = settings.intervalMs
    this.#expiring = settings.maxAgeMs !== Infinity || settings.targetMs !== Infinity
    this.#onDrop = settings.onDrop
    this.#table = table
    this.#groupId = table.groupId(this.group)
    this.#slot = table.claim(slotKind, name, this.#groupId)
    this.#groupOnly = this.#slot < 0
    if (this.#groupOnly) {
      table.enterGroupOnly(this.#groupId)
      this.#i32 = SCRATCH_I32
      this.#f64 = SCRATCH_F64
      this.#s = 0
    } else {
      this.#i32 = table.i32
      this.#f64 = table.f64
      this.#s = slotIndex(this.#slot)
    }
    this.#f = this.#s >> 1
  }

  /** Items queued now. */
  get length(): number {
    return this.#len
  }

  /** True after close(); items may still be queued (see `length`). */
  get closed(): boolean {
    return this.#closed
  }

  /** True when the registry had no free slot: this mailbox is counted in its group's totals only. */
  get groupOnly(): boolean {
    return this.#groupOnly
  }

  /**
   * Appends `item`. Returns false, and counts a rejection, when the mailbox is full and overflow is
   * `'reject'`; never throws because the mailbox is full. Throws ERR_BEAMLINE_MAILBOX_CLOSED after close().
   */
  push(item: T): boolean {
    if (this.#closed) throw new MailboxClosedError(this.name)
    if (this.#len >= this.capacity) return this.#pushFull(item)
    this.#append(item)
    return true
  }

  /** Removes and returns the oldest item, first dropping expired or shed ones; undefined when empty. */
  shift(): T | undefined {
    const item = this.#take()
    return item === EMPTY ? undefined : item
  }

  /** The oldest item without removing it (expiry is not applied); undefined when empty. */
  peek(): T | undefined {
    return this.#len === 0 ? undefined : this.#items[this.#head]
  }

  /** Removes and returns up to `max` items, oldest first (expired or shed ones are dropped, not returned). */
  take(max: number): T[] {
    return this.#takeUpTo(integerOption('max', max, 1, Number.MAX_SAFE_INTEGER))
  }

  /** Removes and returns every queued item, oldest first (expired or shed ones are dropped, not returned). */
  drain(): T[] {
    return this.#takeUpTo(Infinity)
  }

  /**
   * Stops accepting items. Queued items stay and can be taken; consumers and iterators finish when
   * the mailbox is empty, which is also when the registry slot is freed. Idempotent.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#wakeAll()
    if (this.#len === 0) this.#release()
  }

  stats(): MailboxStats {
    const len = this.#len
    return {
      name: this.name,
      group: this.group,
      length: len,
      peak: this.#peak,
      enqueued: this.#enqueued,
      dequeued: this.#dequeued,
      rejected: this.#rejected,
      dropped: { overflow: this.#overflowed, expired: this.#expired },
      oldestAgeMs: len === 0 ? 0 : Math.max(0, preciseNow() - this.#ts[this.#head]!),
    }
  }

  /** Yields items as they arrive; ends once the mailbox is closed and empty. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      const item = this.#take()
      if (item !== EMPTY) yield item
      else if (this.#closed) return
      else await this.#wait()
    }
  }

  /**
   * Hands items to `handler` in batches of at most `maxDemand`, with at most `concurrency` calls in
   * progress, until the mailbox is closed and drained or the consumer is stopped. See ConsumeOptions.
   */
  consume(handler: BatchHandler<T>, options?: ConsumeOptions<T>): Consumer {
    if (typeof handler !== 'function') throw new InvalidOptionError('handler', 'must be a function')
    const settings = consumeSettings(options)
    return new Pump<T>(
      {
        take: (max) => this.#takeUpTo(max),
        wait: () => this.#wait(),
        isClosed: () => this.#closed,
      },
      handler,
      settings,
    )
  }

  #takeUpTo(max: number): T[] {
    const out: T[] = []
    while (out.length < max) {
      const item = this.#take()
      if (item === EMPTY) break
      out.push(item)
    }
    return out
  }

  #take(): T | typeof EMPTY {
    if (this.#len === 0) return EMPTY
    if (this.#expiring) {
      this.#expire(coarseNow())
      if (this.#len === 0) return EMPTY
    }
    return this.#removeHead(DEQUEUED)
  }

  /** push() into a full mailbox: expire what can be, then apply the overflow mode. */
  #pushFull(item: T): boolean {
    if (this.#expiring) this.#expire(coarseNow())
    if (this.#len < this.capacity) {
      this.#append(item)
      return true
    }
    if (this.overflow === 'reject') {
      this.#f64[this.#f + REJECTED] = ++this.#rejected
      if (this.#groupOnly) this.#groupMoved(REJECTED + GROUP_COUNTER, this.#len, this.#len)
      return false
    }
    const evicted = this.#removeHead(OVERFLOW)
    this.#append(item)
    this.#dropped(evicted, 'overflow')
    return true
  }

  #append(item: T): void {
    const len = this.#len
    if (len === this.#items.length) this.#grow()
    const now = coarseNow()
    const i = (this.#head + len) & this.#mask
    this.#items[i] = item
    this.#ts[i] = now
    this.#len = len + 1
    this.#i32[this.#s + LENGTH] = len + 1
    this.#f64[this.#f + ENQUEUED] = ++this.#enqueued
    if (len === 0) this.#f64[this.#f + HEAD_TS] = now
    if (len + 1 > this.#peak) this.#i32[this.#s + PEAK] = this.#peak = len + 1
    if (this.#groupOnly) this.#groupMoved(ENQUEUED + GROUP_COUNTER, len, len + 1)
    if (this.#waiters.length !== 0) this.#wakeAll()
  }

  /** Drops expired items at the head, then applies CoDel to the new head. */
  #expire(now: number): void {
    while (this.#len > 0) {
      const sojourn = now - this.#ts[this.#head]!
      let reason: DropReason
      if (sojourn > this.#maxAgeMs) reason = 'expired'
      else if (sojourn <= this.#targetMs) {
        this.#firstAbove = 0
        return
      } else if (this.#firstAbove === 0) {
        this.#firstAbove = now + this.#intervalMs
        return
      } else if (now < this.#firstAbove) return
      else reason = 'overload'
      this.#dropped(this.#removeHead(EXPIRED), reason)
    }
  }

  /**
   * Removes the head and counts it in `field`: DEQUEUED when handed out, OVERFLOW or EXPIRED when
   * dropped (the caller then calls onDrop).
   */
  #removeHead(field: typeof DEQUEUED | typeof OVERFLOW | typeof EXPIRED): T {
    const h = this.#head
    const item = this.#items[h] as T
    this.#items[h] = undefined
    const head = (h + 1) & this.#mask
    this.#head = head
    const len = --this.#len
    this.#i32[this.#s + LENGTH] = len
    this.#f64[this.#f + field] =
      field === DEQUEUED ? ++this.#dequeued : field === OVERFLOW ? ++this.#overflowed : ++this.#expired
    this.#f64[this.#f + HEAD_TS] = len === 0 ? 0 : this.#ts[head]!
    if (this.#groupOnly) this.#groupMoved(field + GROUP_COUNTER, len + 1, len)
    if (len === 0) this.#emptied()
    return item
  }

  #dropped(item: T, reason: DropReason): void {
    const onDrop = this.#onDrop
    if (onDrop === undefined) return
    try {
      onDrop(item, reason)
    } catch (error) {
      warnOnce(
        `mailbox:onDrop:${this.group}`,
        `Mailbox ${JSON.stringify(this.name)}: onDrop threw; the item stays dropped`,
        error,
      )
    }
  }

  #emptied(): void {
    this.#firstAbove = 0
    if (this.#items.length > KEEP_STORAGE) {
      this.#items = []
      this.#ts = NO_TIMESTAMPS
      this.#head = 0
      this.#mask = 0
    }
    if (this.#closed) this.#release()
  }

  #grow(): void {
    const old = this.#items.length
    const size = old === 0 ? Math.min(FIRST_STORAGE, ceilPow2(this.capacity)) : old * 2
    const items = new Array<T | undefined>(size)
    const ts = new Float64Array(size)
    for (let k = 0; k < this.#len; k++) {
      const i = (this.#head + k) & this.#mask
      items[k] = this.#items[i]
      ts[k] = this.#ts[i]!
    }
    this.#items = items
    this.#ts = ts
    this.#head = 0
    this.#mask = size - 1
  }

  /** Group-only accounting of one counted event that moved the length from `before` to `after`. */
  #groupMoved(field: number, before: number, after: number): void {
    const table = this.#table
    const g = this.#groupId
    table.addGroupCount(g, field, 1)
    if (after !== before) table.addGroupGauge(g, U_QUEUED, after - before)
    if (before === 0 && after > 0) table.addGroupGauge(g, U_NONEMPTY, 1)
    else if (before > 0 && after === 0) table.addGroupGauge(g, U_NONEMPTY, -1)
  }

  #release(): void {
    if (this.#released) return
    this.#released = true
    if (this.#groupOnly) {
      this.#table.leaveGroupOnly(this.#groupId)
    } else {
      this.#table.retire(this.#slot)
      this.#slot = -1
      this.#i32 = SCRATCH_I32
      this.#f64 = SCRATCH_F64
      this.#s = 0
      this.#f = 0
    }
  }

  #wait(): Promise<void> {
    return new Promise<void>((resolve) => this.#waiters.push(resolve))
  }

  #wakeAll(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }
}

function ceilPow2(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n))
}
