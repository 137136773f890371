/*
 * The registry every thread shares: one SharedArrayBuffer (layout: ./layout.ts) holding a 64-byte
 * statistics slot per mailbox or observed queue, their names, and per-group totals. stats(), top()
 * and snapshot() scan the slots' typed arrays directly, without a message to any thread and without allocating per
 * mailbox, which is what keeps them within a few milliseconds at 100k mailboxes.
 */
import {
  checkHandle,
  checkSharedBuffer,
  functionOption,
  InvalidHandleError,
  InvalidOptionError,
  integerOption,
  nameOption,
  type SharedHandle,
} from '@beamline/core'
import { preciseNow } from './clock.js'
import { Lanes, type LanesOptions, lanesSettings } from './lanes.js'
import {
  bytesPerSlot,
  DEQUEUED,
  ENQUEUED,
  EXPIRED,
  GROUP,
  GROUP_COUNT,
  HANDLE_KIND,
  HEAD_TS,
  LAYOUT_VERSION,
  LENGTH,
  MAILBOX,
  OBSERVED,
  OVERFLOW,
  OVERFLOW_NAMES,
  OVERFLOW_TOTAL,
  PEAK,
  queuedOf,
  R_DEQUEUED,
  R_ENQUEUED,
  R_EXPIRED,
  R_OVERFLOW,
  R_REJECTED,
  REJECTED,
  RETIRE_BEGIN,
  RETIRE_END,
  regions,
  SLOT_BYTES,
  STATE,
  slotIndex,
  U_MAILBOXES,
  U_NONEMPTY,
  U_QUEUED,
} from './layout.js'
import {
  CREATE,
  type DropCounts,
  Mailbox,
  type MailboxOptions,
  type MailboxStats,
  mailboxSettings,
} from './mailbox.js'
import { type Observation, type ObserveOptions, Observer } from './observe.js'
import { createBuffer, SlotTable } from './table.js'

export interface MailboxRegistryOptions {
  /**
   * Mailboxes and observed queues that get their own statistics slot, across all threads. Each slot
   * costs 80 + nameBytes bytes of shared memory, allocated up front (144 B with the default
   * nameBytes: 14.4 MB for 100 000). Registrations beyond it still work, counted in their group only
   * (see `overflowNames`). Integer from 1 to 4 194 304. Default 10 000.
   */
  capacity?: number
  /**
   * Distinct groups. Groups are never freed; once all are taken, further groups are counted under
   * `'_other'` (which takes one of them). Integer from 2 to 4096. Default 256.
   */
  maxGroups?: number
  /**
   * Bytes of each name kept in shared memory, for stats() and top() in other threads; longer names
   * are cut at a character boundary and shown ending in '…' there (the owning thread's
   * `mailbox.name` is never cut). Integer from 8 to 200, rounded up to a multiple of 8. Default 64.
   */
  nameBytes?: number
  /** How often (ms) observed queues are sampled. Integer from 10 to 60 000. Default 100. */
  observeIntervalMs?: number
}

/** Options of `MailboxRegistry.attach()`: only what is per thread. */
export type AttachOptions = Pick<MailboxRegistryOptions, 'observeIntervalMs'>

/** Plain data plus the buffer: survives `structuredClone`, so send it through `workerData` or `postMessage`. */
export interface MailboxRegistryHandle extends SharedHandle<typeof HANDLE_KIND> {
  readonly buffer: SharedArrayBuffer
}

export interface GroupStats {
  /** Items queued in the group's mailboxes (observed queues: their last sample). */
  queued: number
  /** Queues of the group with at least one item. */
  nonEmpty: number
  /** Length of the group's longest queue that has a slot (group-only ones are not seen individually). */
  longest: number
  /** Live mailboxes and observed queues of the group. */
  mailboxes: number
  /** Counters over the group's mailboxes since the registry was created, closed ones included. */
  enqueued: number
  dequeued: number
  rejected: number
  dropped: DropCounts
}

export interface RegistryStats {
  totalQueued: number
  nonEmpty: number
  /** The longest queue with a slot; null when every queue is empty. */
  longest: { name: string; group: string; length: number } | null
  enqueued: number
  dequeued: number
  rejected: number
  dropped: DropCounts
  /** Live mailboxes and observed queues, all threads. */
  mailboxes: number
  /** Live observed queues among them. */
  observed: number
  /** Groups with any live queue or any count; groups with neither are left out. */
  byGroup: Record<string, GroupStats>
  /** Live registrations that found every slot taken: counted in their group only, not named. */
  overflowNames: number
  /** Such registrations since the registry was created. */
  overflowNamesTotal: number
  /** Slots (the registry's capacity). */
  capacity: number
}

/** `stats()` and `top(n)` of one pass (`MailboxRegistry#snapshot`). */
export interface RegistrySnapshot {
  stats: RegistryStats
  top: MailboxStats[]
}

const MAX_CAPACITY = 2 ** 22
/** stats() retries a scan that overlapped a slot retirement at most this many times. */
const SCAN_ATTEMPTS = 4
const ATTACH = Symbol('attach')

/**
 * Shared queue statistics for every thread: `new MailboxRegistry()` once, `MailboxRegistry.attach(handle)`
 * in each worker, then `registry.mailbox(name)` anywhere and `registry.stats()` from any thread.
 */
export class MailboxRegistry {
  readonly handle: MailboxRegistryHandle
  readonly #table: SlotTable
  readonly #observer: Observer
  // Per-group accumulators reused by every scan: no allocation proportional to the mailboxes.
  readonly #acc: {
    queued: Float64Array
    nonEmpty: Int32Array
    longest: Int32Array
    mailboxes: Int32Array
    counts: Float64Array
  }

  constructor(options?: MailboxRegistryOptions) {
    let handle: MailboxRegistryHandle
    let observeIntervalMs: number
    if (typeof options === 'object' && options !== null && ATTACH in options) {
      const attach = options as unknown as { [ATTACH]: MailboxRegistryHandle; observeIntervalMs?: number }
      handle = attach[ATTACH]
      observeIntervalMs = observeInterval(attach.observeIntervalMs)
    } else {
      if (options !== undefined && (typeof options !== 'object' || options === null)) {
        throw new InvalidOptionError('options', 'must be an object')
      }
      const capacity = integerOption('capacity', options?.capacity, 1, MAX_CAPACITY, 10_000)
      const maxGroups = integerOption('maxGroups', options?.maxGroups, 2, 4096, 256)
      const nameBytes = Math.ceil(integerOption('nameBytes', options?.nameBytes, 8, 200, 64) / 8) * 8
      observeIntervalMs = observeInterval(options?.observeIntervalMs)
      handle = {
        kind: HANDLE_KIND,
        version: LAYOUT_VERSION,
        buffer: createBuffer(capacity, maxGroups, nameBytes),
      }
    }
    this.handle = handle
    this.#table = new SlotTable(handle.buffer)
    this.#observer = new Observer(this.#table, observeIntervalMs)
    const g = this.#table.maxGroups
    this.#acc = {
      queued: new Float64Array(g),
      nonEmpty: new Int32Array(g),
      longest: new Int32Array(g),
      mailboxes: new Int32Array(g),
      counts: new Float64Array(g * 5),
    }
  }

  /** The registry created in another thread, from its `handle` (workerData or postMessage). */
  static attach(handle: MailboxRegistryHandle, options?: AttachOptions): MailboxRegistry {
    const h = checkHandle<MailboxRegistryHandle>(handle, HANDLE_KIND, LAYOUT_VERSION)
    const buffer = checkSharedBuffer(HANDLE_KIND, 'buffer', h.buffer, 64)
    const [capacity = 0, maxGroups = 0, nameBytes = 0] = new Int32Array(buffer, 0, 3)
    if (capacity < 1 || maxGroups < 2 || nameBytes < 8) {
      throw new InvalidHandleError(`${HANDLE_KIND} handle: the buffer holds no registry header`)
    }
    checkSharedBuffer(HANDLE_KIND, 'buffer', buffer, regions(capacity, maxGroups, nameBytes).total)
    return new MailboxRegistry({
      [ATTACH]: h,
      observeIntervalMs: options?.observeIntervalMs,
    } as MailboxRegistryOptions)
  }

  /** Slots in the shared buffer. */
  get capacity(): number {
    return this.#table.capacity
  }

  /** Shared bytes per slot (statistics, meta, name), for capacity planning. */
  get bytesPerSlot(): number {
    return bytesPerSlot(this.#table.nameBytes)
  }

  /** A new bounded mailbox. Names need not be unique (e.g. one per session). */
  mailbox<T>(name: string, options?: MailboxOptions<T>): Mailbox<T> {
    nameOption('name', name)
    return new Mailbox<T>(CREATE, this.#table, name, mailboxSettings(options), MAILBOX)
  }

  /** `lanes` mailboxes named `${name}#${i}`, in group `options.group` (default: name), fed by key. */
  lanes<T>(name: string, options: LanesOptions<T>): Lanes<T> {
    nameOption('name', name)
    const { lanes, key } = lanesSettings(options)
    const settings = mailboxSettings(options as MailboxOptions<T>, 'capacityPerLane')
    const group = settings.group ?? name
    const boxes: Mailbox<T>[] = []
    for (let i = 0; i < lanes; i++)
      boxes.push(new Mailbox<T>(CREATE, this.#table, `${name}#${i}`, { ...settings, group }, MAILBOX))
    return new Lanes<T>(name, group, boxes, key)
  }

  /**
   * Samples an external queue's length every `observeIntervalMs` (and once now) into a slot, so it
   * appears in stats() and top() of every thread with zero counters. close() the result to stop.
   */
  observe(name: string, sample: () => number, options?: ObserveOptions): Observation {
    nameOption('name', name)
    if (functionOption('sample', sample) === undefined)
      throw new InvalidOptionError('sample', 'must be a function, got undefined')
    const group = options?.group === undefined ? name : nameOption('group', options.group)
    return this.#observer.add(name, group, sample)
  }

  /** Samples every observed queue of this registry object now, instead of waiting for the timer. */
  sampleObserved(): void {
    this.#observer.sampleAll()
  }

  /** Closes this thread's observations (mailboxes are closed by their owners). */
  close(): void {
    this.#observer.closeAll()
  }

  /**
   * Totals over every thread's mailboxes and observed queues. One pass over the slot arrays: about
   * 1–2 ms at 100k slots. Exact when the writers are quiescent; while they run, each slot is a
   * snapshot at most one operation old.
   */
  stats(): RegistryStats {
    return this.#consistentScan(0).stats
  }

  /**
   * `stats()` and `top(n)` from one pass over the slots, for exporters that want both every second:
   * about the cost of `stats()` alone. The top rows are read right after the pass.
   */
  snapshot(n: number): RegistrySnapshot {
    integerOption('n', n, 0, Number.MAX_SAFE_INTEGER)
    const { stats, longest } = this.#consistentScan(n)
    return { stats, top: this.#rows(longest.slots) }
  }

  /** A scan that no slot retirement overlapped (retried a few times, then taken as it is). */
  #consistentScan(n: number): { stats: RegistryStats; longest: Longest } {
    const i32 = this.#table.i32
    for (let attempt = 1; ; attempt++) {
      const begin = Atomics.load(i32, RETIRE_BEGIN)
      const end = Atomics.load(i32, RETIRE_END)
      const longest = new Longest(n)
      const stats = this.#scan(longest)
      if ((begin === end && Atomics.load(i32, RETIRE_BEGIN) === begin) || attempt === SCAN_ATTEMPTS)
        return { stats, longest }
    }
  }

  #scan(top: Longest): RegistryStats {
    const table = this.#table
    const { i32, f64, big } = table
    const { queued, nonEmpty, longest, mailboxes, counts } = this.#acc
    queued.fill(0)
    nonEmpty.fill(0)
    longest.fill(0)
    mailboxes.fill(0)
    counts.fill(0)
    let observed = 0
    let bestLength = 0
    let best = -1
    const limit = table.scanLimit
    const step = SLOT_BYTES >> 2
    for (let slot = 0, s = slotIndex(0); slot < limit; slot++, s += step) {
      const state = i32[s + STATE]!
      if (state < MAILBOX) continue
      const g = i32[s + GROUP]!
      mailboxes[g]!++
      let len: number
      if (state === OBSERVED) {
        observed++
        len = i32[s + LENGTH]!
      } else {
        // A mailbox's length is derived from its counters (see ./layout.ts).
        const f = s >> 1
        const c = g * 5
        const enqueued = f64[f + ENQUEUED]!
        const dequeued = f64[f + DEQUEUED]!
        const overflowed = f64[f + OVERFLOW]!
        const expired = f64[f + EXPIRED]!
        counts[c]! += enqueued
        counts[c + 1]! += dequeued
        counts[c + 2]! += f64[f + REJECTED]!
        counts[c + 3]! += overflowed
        counts[c + 4]! += expired
        len = queuedOf(enqueued, dequeued, overflowed, expired)
      }
      if (len > 0) {
        queued[g]! += len
        nonEmpty[g]!++
        if (len > longest[g]!) longest[g] = len
        if (len > bestLength) {
          bestLength = len
          best = slot
        }
        if (top.n > 0) top.offer(len, slot)
      }
    }
    const stats: RegistryStats = {
      totalQueued: 0,
      nonEmpty: 0,
      longest: null,
      enqueued: 0,
      dequeued: 0,
      rejected: 0,
      dropped: { overflow: 0, expired: 0 },
      mailboxes: 0,
      observed,
      byGroup: {},
      overflowNames: Atomics.load(i32, OVERFLOW_NAMES),
      overflowNamesTotal: Atomics.load(i32, OVERFLOW_TOTAL),
      capacity: table.capacity,
    }
    // Read after the scan: a group is published before any slot names it, so this covers every g seen.
    const groups = Atomics.load(i32, GROUP_COUNT)
    for (let g = 0; g < groups; g++) {
      const gi = table.groupIndex(g)
      const b = gi >> 1
      const c = g * 5
      const group: GroupStats = {
        queued: queued[g]! + Atomics.load(i32, gi + U_QUEUED),
        nonEmpty: nonEmpty[g]! + Atomics.load(i32, gi + U_NONEMPTY),
        longest: longest[g]!,
        mailboxes: mailboxes[g]! + Atomics.load(i32, gi + U_MAILBOXES),
        enqueued: counts[c]! + Number(Atomics.load(big, b + R_ENQUEUED)),
        dequeued: counts[c + 1]! + Number(Atomics.load(big, b + R_DEQUEUED)),
        rejected: counts[c + 2]! + Number(Atomics.load(big, b + R_REJECTED)),
        dropped: {
          overflow: counts[c + 3]! + Number(Atomics.load(big, b + R_OVERFLOW)),
          expired: counts[c + 4]! + Number(Atomics.load(big, b + R_EXPIRED)),
        },
      }
      if (group.mailboxes === 0 && group.enqueued === 0 && group.rejected === 0 && group.queued === 0)
        continue
      stats.byGroup[table.groupName(g)] = group
      stats.totalQueued += group.queued
      stats.nonEmpty += group.nonEmpty
      stats.mailboxes += group.mailboxes
      stats.enqueued += group.enqueued
      stats.dequeued += group.dequeued
      stats.rejected += group.rejected
      stats.dropped.overflow += group.dropped.overflow
      stats.dropped.expired += group.dropped.expired
    }
    if (best >= 0) {
      stats.longest = {
        name: table.slotName(best) ?? '(reused)',
        group: table.groupName(i32[slotIndex(best) + GROUP]!),
        length: bestLength,
      }
    }
    return stats
  }

  /**
   * The `n` longest non-empty queues with a slot, longest first, across all threads (observer_cli's
   * top view). Observed queues are included with zero counters. Cost: one pass over the slots, the
   * same as `snapshot(n)`.
   */
  top(n: number): MailboxStats[] {
    return this.snapshot(n).top
  }

  #rows(slots: readonly number[]): MailboxStats[] {
    const table = this.#table
    const { i32, f64 } = table
    const now = preciseNow()
    const rows: MailboxStats[] = []
    for (const slot of slots) {
      const name = table.slotName(slot)
      if (name === undefined) continue
      const s = slotIndex(slot)
      const f = s >> 1
      const state = i32[s + STATE]!
      const enqueued = f64[f + ENQUEUED]!
      const dequeued = f64[f + DEQUEUED]!
      const overflowed = f64[f + OVERFLOW]!
      const expired = f64[f + EXPIRED]!
      // Derived from this row's own counters (see ./layout.ts), so the row's identity holds.
      const length = state === OBSERVED ? i32[s + LENGTH]! : queuedOf(enqueued, dequeued, overflowed, expired)
      const headTs = f64[f + HEAD_TS]!
      rows.push({
        name,
        group: table.groupName(i32[s + GROUP]!),
        length,
        peak: i32[s + PEAK]!,
        enqueued,
        dequeued,
        rejected: f64[f + REJECTED]!,
        dropped: { overflow: overflowed, expired },
        // HEAD_TS is stale in an empty mailbox, and 0 in an observed queue's slot.
        oldestAgeMs: length === 0 || headTs === 0 ? 0 : Math.max(0, now - headTs),
      })
    }
    return rows
  }
}

/** The `n` longest queues offered so far, longest first: insertion into a short sorted array. */
class Longest {
  readonly lengths: number[] = []
  readonly slots: number[] = []
  constructor(readonly n: number) {}

  offer(length: number, slot: number): void {
    const { lengths, slots, n } = this
    if (lengths.length === n && length <= lengths[n - 1]!) return
    let k = lengths.length
    while (k > 0 && lengths[k - 1]! < length) k--
    lengths.splice(k, 0, length)
    slots.splice(k, 0, slot)
    if (lengths.length > n) {
      lengths.pop()
      slots.pop()
    }
  }
}

function observeInterval(value: unknown): number {
  return integerOption('observeIntervalMs', value, 10, 60_000, 100)
}
