/*
 * One bounded, instrumented FIFO queue. The items live in this thread's heap; the queue's statistics
 * live in its slot of the registry's SharedArrayBuffer (layout: ./layout.ts), written by this thread
 * alone with plain stores so any thread's registry.stats() can read them.
 *
 * The queue is a ring buffer that grows by doubling up to `capacity` (rounded up to a power of two),
 * with a parallel Float64Array of enqueue timestamps: no wrapper object per item. Timestamps come from
 * the coarse clock (./clock.ts). Its options, settings and statistics' shape: ./mailbox-options.ts.
 */
import { InvalidOptionError, integerOption, warnOnce } from '@beamline/core'
import { coarseClock, preciseNow } from './clock.js'
import { type BatchHandler, type ConsumeOptions, type Consumer, consumeSettings, Pump } from './consumer.js'
import { MailboxClosedError } from './errors.js'
import { GroupOnly } from './group-only.js'
import { DEQUEUED, ENQUEUED, EXPIRED, HEAD_TS, OVERFLOW, PEAK, REJECTED, slotIndex } from './layout.js'
import {
  type DropReason,
  MAX_CAPACITY,
  type MailboxSettings,
  type MailboxStats,
  type OverflowMode,
} from './mailbox-options.js'
import type { SlotTable } from './table.js'

/** A drained mailbox gives back ring storage larger than this, so one burst does not pin memory. */
const KEEP_STORAGE = 1024
const FIRST_STORAGE = 8
/** At most this many consecutive items of a mailbox share a timestamp (a power of two). */
const MARK_SPAN = 1024
const EMPTY = Symbol('empty')
/*
 * Every field the fast paths read is initialised with a value of its final type: a field that starts
 * as undefined (a bare class field declaration) is stored generically, and each read then pays a type
 * check.
 */
const NO_FLOATS = new Float64Array(0)
/** A module constant (an import would cost a check per use): the JIT embeds the object. */
const clock = coarseClock
/** Where a mailbox without a slot (or a released one) stores its peak: nobody reads it. */
const SCRATCH_I32 = new Int32Array(PEAK + 1)
/*
 * A mailbox's counters, as indices into its #counters view: the slot's Float64 fields from ENQUEUED
 * to HEAD_TS (./layout.ts). Module constants, so the JIT folds them into the hot path's stores.
 */
const COUNTERS = HEAD_TS - ENQUEUED + 1
const AT_ENQUEUED = 0
const AT_DEQUEUED = DEQUEUED - ENQUEUED
const AT_REJECTED = REJECTED - ENQUEUED
const AT_OVERFLOW = OVERFLOW - ENQUEUED
const AT_EXPIRED = EXPIRED - ENQUEUED
const AT_HEAD_TS = HEAD_TS - ENQUEUED

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
  /** Registry slot, or -1 when the registry was full (see #unslotted) or once the slot is released. */
  #slot: number
  /** Where this mailbox is counted when it got no slot. */
  readonly #unslotted: GroupOnly | undefined
  readonly #maxAgeMs: number
  readonly #targetMs: number
  readonly #intervalMs: number
  readonly #expiring: boolean
  readonly #onDrop: ((item: T, reason: DropReason) => void) | undefined
  /*
   * The fast paths (push and shift of a mailbox with a slot, no age limit and nobody waiting) are one
   * compare away from their slow paths: every mode is folded into a number, set at construction and
   * whenever the mode changes (close, a waiter arrives or leaves).
   */
  /**
   * push() takes the fast path while length < #limit: the smaller of capacity and the storage size,
   * or 0 when closed, group-only or awaited (a consumer waits for the next push).
   */
  #limit = 0
  /**
   * shift() takes the fast path while length > #floor: 0; 1 when taking the last item has work to do
   * (closed: free the slot; storage to give back); MAX_CAPACITY for group-only or expiring mailboxes.
   */
  #floor = 0
  /**
   * The counters (AT_*), where every thread reads them: a view of this mailbox's slot, so the hot path
   * counts with one read-modify-write at a constant index and keeps no copy. The view (~90 B) is made
   * at the first push, so idle mailboxes do not pay for it; until then this is empty (stores into it
   * are no-ops, reads are undefined, and the slot's counters are still 0). A mailbox without a slot
   * (or whose slot was freed) counts in a private array instead.
   */
  #counters: Float64Array = NO_FLOATS
  /** Where the peak goes: the registry's Int32 view at #peakAt, or scratch. Written only on a new peak. */
  #i32: Int32Array = SCRATCH_I32
  #peakAt = PEAK
  /*
   * The ring: item number n (counted from 0 at creation, wrapping as an int32) is at #items[n & #mask].
   * #head is the number of the oldest item, #tail the number the next push gets; length = tail - head.
   */
  /** Storage: its length is a power of two (or 0); #mask is that length − 1 (0 when empty). */
  #items: (T | undefined)[] = []
  #mask = 0
  #head = 0
  #tail = 0
  /*
   * Enqueue times. Items pushed in one synchronous run of JavaScript share a coarse timestamp, so a
   * time is stored per run of items (a mark), not per item: #marks is a ring of (first item number,
   * time) pairs for the items behind the head's run; #headTime is the head's time. A push checks one
   * epoch (and starts a new mark every MARK_SPAN items); a shift compares its new head with #nextMark.
   */
  #headTime = 0.5
  #lastTime = 0.5
  #epoch = -1
  #marks: Float64Array = NO_FLOATS
  #markFirst = 0
  #markCount = 0
  /** Item number where the next mark starts; while there is none, a number the head cannot reach soon. */
  #nextMark = -1
  #peak = 0
  /** CoDel: when the head's sojourn first went above target, plus intervalMs; 0 when below. */
  #firstAbove = 0
  #closed = false
  #released = false
  #waiters: (() => void)[] | undefined

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
    const groupId = table.groupId(this.group)
    this.#slot = table.claim(slotKind, name, groupId)
    if (this.#slot < 0) {
      this.#unslotted = new GroupOnly(table, groupId)
      this.#counters = new Float64Array(COUNTERS)
    } else {
      this.#unslotted = undefined
      this.#i32 = table.i32
      this.#peakAt = slotIndex(this.#slot) + PEAK
    }
    this.#updateModes()
  }

  /** Recomputes #limit and #floor after what they fold in changed. */
  #updateModes(): void {
    const room = this.#items.length
    const groupOnly = this.#unslotted !== undefined
    this.#limit = this.#closed || groupOnly || this.#waiters !== undefined ? 0 : Math.min(this.capacity, room)
    this.#floor = groupOnly || this.#expiring ? MAX_CAPACITY : this.#closed || room > KEEP_STORAGE ? 1 : 0
  }

  /** Items queued now. */
  get length(): number {
    return (this.#tail - this.#head) | 0
  }

  /** True after close(); items may still be queued (see `length`). */
  get closed(): boolean {
    return this.#closed
  }

  /** True when the registry had no free slot: this mailbox is counted in its group's totals only. */
  get groupOnly(): boolean {
    return this.#unslotted !== undefined
  }

  /**
   * Appends `item`. Returns false, and counts a rejection, when the mailbox is full and overflow is
   * `'reject'`; never throws because the mailbox is full. Throws ERR_BEAMLINE_MAILBOX_CLOSED after close().
   */
  push(item: T): boolean {
    // Timestamp first, so that no value is live across the (rare) call: the JIT then spills nothing.
    if (this.#epoch !== clock.epoch || (this.#tail & (MARK_SPAN - 1)) === 0) this.#mark()
    const tail = this.#tail
    if (((tail - this.#head) | 0) >= this.#limit) return this.#pushSlow(item)
    this.#append(item, tail)
    return true
  }

  /** Removes and returns the oldest item, first dropping expired or shed ones; undefined when empty. */
  shift(): T | undefined {
    const head = this.#head
    const len = (this.#tail - head) | 0
    if (len <= this.#floor) {
      const item = this.#take()
      return item === EMPTY ? undefined : item
    }
    const item = this.#unlink(head)
    this.#counters[AT_DEQUEUED]++
    return item
  }

  /** The oldest item without removing it (expiry is not applied); undefined when empty. */
  peek(): T | undefined {
    return this.length === 0 ? undefined : this.#items[this.#head & this.#mask]
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
    this.#updateModes()
    this.#wakeAll()
    if (this.length === 0) this.#release()
  }

  stats(): MailboxStats {
    const len = this.length
    const counters = this.#counters
    // Before the first push the view does not exist yet (`?? 0`).
    return {
      name: this.name,
      group: this.group,
      length: len,
      peak: this.#peak,
      enqueued: counters[AT_ENQUEUED] ?? 0,
      dequeued: counters[AT_DEQUEUED] ?? 0,
      rejected: counters[AT_REJECTED] ?? 0,
      dropped: { overflow: counters[AT_OVERFLOW] ?? 0, expired: counters[AT_EXPIRED] ?? 0, abandoned: 0 },
      observed: false,
      oldestAgeMs: len === 0 ? 0 : Math.max(0, preciseNow() - this.#headTime),
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
    if (this.length === 0) return EMPTY
    if (this.#expiring) {
      this.#expire(clock.now())
      if (this.length === 0) return EMPTY
    }
    return this.#removeHead(DEQUEUED)
  }

  /** push() off the fast path: closed, full, storage full, group-only, or a consumer is waiting. */
  #pushSlow(item: T): boolean {
    if (this.#closed) throw new MailboxClosedError(this.name)
    if (this.length >= this.capacity) {
      // Expire what can be, then apply the overflow mode.
      if (this.#expiring) this.#expire(clock.now())
      if (this.length >= this.capacity) {
        if (this.overflow === 'reject') {
          this.#counters[AT_REJECTED]++
          this.#unslotted?.moved(REJECTED, this.length, this.length)
          return false
        }
        const evicted = this.#removeHead(OVERFLOW)
        this.#add(item)
        this.#dropped(evicted, 'overflow')
        return true
      }
    }
    this.#add(item)
    return true
  }

  /** Appends with what the fast path leaves to the slow one: growth, group-only accounting, waking. */
  #add(item: T): void {
    const len = this.length
    if (this.#counters === NO_FLOATS) this.#viewSlot()
    if (len === this.#items.length) this.#grow()
    this.#append(item, this.#tail)
    this.#unslotted?.moved(ENQUEUED, len, len + 1)
    this.#wakeAll()
  }

  /** Makes the view of this mailbox's slot counters, at its first push. */
  #viewSlot(): void {
    const f = slotIndex(this.#slot) >> 1
    this.#counters = new Float64Array(this.#table.buffer, (f + ENQUEUED) * 8, COUNTERS)
    // A push's timestamp is taken before it reaches here: store it, it was not stored in the empty view.
    this.#counters[AT_HEAD_TS] = this.#headTime
  }

  /** Appends `item` as item number `tail` (length < capacity and < storage) and publishes the counts. */
  #append(item: T, tail: number): void {
    const len = (tail - this.#head) | 0
    this.#items[tail & this.#mask] = item
    this.#tail = (tail + 1) | 0
    this.#counters[AT_ENQUEUED]++
    if (len >= this.#peak) this.#i32[this.#peakAt] = this.#peak = len + 1
  }

  /**
   * Timestamps the next item to be pushed and the ones after it: the head's time if the mailbox is
   * empty, else a new mark (unless the time has not changed; a mark whose item is then refused is
   * harmless: the next accepted item gets its number). At a MARK_SPAN boundary the clock is read
   * precisely, so a long synchronous burst still gets fresh times.
   */
  #mark(): void {
    const tail = this.#tail
    const now = (tail & (MARK_SPAN - 1)) === 0 ? clock.refresh() : clock.now()
    this.#epoch = clock.epoch
    if (tail === this.#head) {
      this.#setHeadTime(now)
    } else if (now !== this.#lastTime) {
      let marks = this.#marks
      if (this.#markCount * 2 === marks.length) marks = this.#growMarks()
      const at = ((this.#markFirst + this.#markCount) * 2) & (marks.length - 1)
      marks[at] = tail
      marks[at + 1] = now
      if (this.#markCount++ === 0) this.#nextMark = tail
    }
    this.#lastTime = now
  }

  /** Publishes the head's enqueue time (before the counter of the same operation, see ./layout.ts). */
  #setHeadTime(time: number): void {
    if (time === this.#headTime) return
    this.#headTime = time
    this.#counters[AT_HEAD_TS] = time
  }

  /** Item number `head` just became the head and starts the oldest mark: take that mark's time. */
  #passMark(head: number): void {
    const marks = this.#marks
    const at = (this.#markFirst * 2) & (marks.length - 1)
    if (this.#markCount === 0 || marks[at] !== head) {
      // Not a mark: #nextMark held its "none" value and the item numbers wrapped around to it.
      this.#nextMark = (head - 1) | 0
      return
    }
    this.#setHeadTime(marks[at + 1]!)
    this.#markFirst = (this.#markFirst + 1) & ((marks.length >> 1) - 1)
    this.#markCount--
    this.#nextMark = this.#markCount === 0 ? (head - 1) | 0 : marks[(at + 2) & (marks.length - 1)]!
  }

  #growMarks(): Float64Array {
    const old = this.#marks
    const pairs = old.length >> 1
    const marks = new Float64Array(pairs === 0 ? 8 : old.length * 2)
    for (let k = 0; k < this.#markCount; k++) {
      const from = ((this.#markFirst + k) * 2) & (old.length - 1)
      marks[k * 2] = old[from]!
      marks[k * 2 + 1] = old[from + 1]!
    }
    this.#marks = marks
    this.#markFirst = 0
    return marks
  }

  /** Drops expired items at the head, then applies CoDel to the new head. */
  #expire(now: number): void {
    while (this.length > 0) {
      const sojourn = now - this.#headTime
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

  /** Removes item number `head` (the head of a non-empty mailbox) without counting it. */
  #unlink(head: number): T {
    const i = head & this.#mask
    const items = this.#items
    const item = items[i] as T
    items[i] = undefined
    const next = (head + 1) | 0
    this.#head = next
    if (next === this.#nextMark) this.#passMark(next)
    return item
  }

  /**
   * Removes the head and counts it in `field`: DEQUEUED when handed out, OVERFLOW or EXPIRED when
   * dropped (the caller then calls onDrop).
   */
  #removeHead(field: typeof DEQUEUED | typeof OVERFLOW | typeof EXPIRED): T {
    const len = this.length
    const item = this.#unlink(this.#head)
    this.#counters[field === DEQUEUED ? AT_DEQUEUED : field === OVERFLOW ? AT_OVERFLOW : AT_EXPIRED]++
    this.#unslotted?.moved(field, len, len - 1)
    if (len === 1) this.#emptied()
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

  /** The mailbox just became empty (after its counters were published). */
  #emptied(): void {
    this.#firstAbove = 0
    if (this.#items.length > KEEP_STORAGE) {
      this.#items = []
      this.#mask = 0
      this.#updateModes()
    }
    if (this.#marks.length > KEEP_STORAGE) this.#marks = NO_FLOATS
    if (this.#closed) this.#release()
  }

  /** Doubles the ring (items keep their numbers, so each moves to `number & newMask`). */
  #grow(): void {
    const old = this.#items
    const size = old.length === 0 ? Math.min(FIRST_STORAGE, ceilPow2(this.capacity)) : old.length * 2
    // Filled, not holey: reading a packed array needs no hole check.
    const items = Array.from<T | undefined>({ length: size })
    const mask = size - 1
    for (let n = this.#head; n !== this.#tail; n = (n + 1) | 0) items[n & mask] = old[n & this.#mask]
    this.#items = items
    this.#mask = mask
    this.#updateModes()
  }

  #release(): void {
    if (this.#released) return
    this.#released = true
    if (this.#unslotted !== undefined) {
      this.#unslotted.leave()
    } else {
      // A private copy first: stats() keeps reporting this mailbox's counts after the slot is reused.
      this.#counters = this.#counters.slice()
      this.#i32 = SCRATCH_I32
      this.#peakAt = PEAK
      this.#table.retire(this.#slot)
      this.#slot = -1
    }
  }

  #wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#waiters === undefined) {
        this.#waiters = []
        this.#updateModes()
      }
      this.#waiters.push(resolve)
    })
  }

  #wakeAll(): void {
    const waiters = this.#waiters
    if (waiters === undefined) return
    this.#waiters = undefined
    this.#updateModes()
    for (const wake of waiters) wake()
  }
}

function ceilPow2(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n))
}
