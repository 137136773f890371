/*
 * The registry's statistics: one pass over the shared slot table (layout and the fold protocol's
 * argument: ./layout.ts; the reader's side of it: ./scan.ts) summing every thread's mailboxes,
 * observed queues and group-only registrations into per-group accumulators reused by every pass, so
 * that stats(), top() and snapshot() allocate nothing per mailbox and stay within a few milliseconds
 * at 100k slots. The scan only reads shared memory, except to free RETIRED slots whose grace is over.
 */
import { integerOption } from '@beamline/core'
import { preciseNow } from './clock.js'
import {
  ABANDONED,
  AGG_MAILBOXES,
  AGG_NONEMPTY,
  AGG_OBSERVED,
  AGGREGATE,
  COUNTERS,
  DEQUEUED,
  ENQUEUED,
  EXPIRED,
  FREE,
  GEN,
  GROUP,
  GROUP_COUNT,
  HEAD_TS,
  LENGTH,
  MAILBOX,
  OBSERVED,
  OVERFLOW,
  PEAK,
  queuedOf,
  REJECTED,
  RELEASED,
  RETIRE_EPOCH,
  RETIRED,
  RETIRING,
  SLOT_BYTES,
  STAMP,
  STATE,
  slotIndex,
  U_MAILBOXES,
  U_NONEMPTY,
  U_QUEUED,
  UNNAMED_TOTAL,
  UNSLOTTED,
} from './layout.js'
import type { DropCounts, MailboxStats } from './mailbox-options.js'
import { beginScan, endScan, freeBelow, readTotals } from './scan.js'
import type { SlotTable } from './table.js'

export interface GroupStats {
  /** Items queued in the group's mailboxes (observed queues: their last sample). */
  queued: number
  /** Queues of the group with at least one item. */
  nonEmpty: number
  /** Length of the group's longest queue that has a slot (group-only ones are not seen individually). */
  longest: number
  /** Live mailboxes and observed queues of the group. */
  mailboxes: number
  /**
   * Counters over the group's mailboxes since the registry was created, closed ones and those of dead
   * threads included; `dropped.abandoned` counts the items that were queued in a mailbox when its
   * thread died. Per reader they never decrease, and
   * enqueued = dequeued + dropped.overflow + dropped.expired + dropped.abandoned + queued
   * (queued of mailboxes: observed queues have no counters) whenever the writers are quiescent.
   */
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
  /** Such registrations since the registry was created (64-bit in shared memory: never wraps). */
  overflowNamesTotal: number
  /** Slots (the registry's capacity). */
  capacity: number
}

/** `stats()` and `top(n)` of one pass (`MailboxRegistry#snapshot`). */
export interface RegistrySnapshot {
  stats: RegistryStats
  top: MailboxStats[]
}

/** The scans of one registry object (not shared between threads: its accumulators are per object). */
export class RegistryScan {
  readonly #table: SlotTable
  readonly #acc: Accumulators

  constructor(table: SlotTable) {
    this.#table = table
    this.#acc = new Accumulators(table.maxGroups)
  }

  /** MailboxRegistry#stats. */
  stats(): RegistryStats {
    return this.#pass(new Longest(0))
  }

  /** MailboxRegistry#snapshot: the `n` longest rows are read right after the pass. */
  snapshot(n: number): RegistrySnapshot {
    integerOption('n', n, 0, Number.MAX_SAFE_INTEGER)
    const longest = new Longest(n)
    const stats = this.#pass(longest)
    return { stats, top: this.#rows(longest.slots) }
  }

  /** One scan (steps a–d of ./layout.ts): the folded totals first, then the slots. */
  #pass(top: Longest): RegistryStats {
    const table = this.#table
    const acc = this.#acc
    acc.reset()
    const word = beginScan(table)
    try {
      acc.freeBelow = freeBelow(table, word)
      readTotals(table, acc.versions, acc.totals)
      this.#scanSlots(0, table.scanLimit, top)
      this.#scanSlots(table.capacity, table.capacity + table.aggregateLimit, top)
    } finally {
      endScan(table, word)
    }
    return this.#sum()
  }

  #scanSlots(from: number, to: number, top: Longest): void {
    const { i32, f64 } = this.#table
    const acc = this.#acc
    const { queued, nonEmpty, longest, mailboxes, counts } = acc
    const step = SLOT_BYTES >> 2
    // Locals in the loop, in `acc` around #scanOther (which may find a longer observed queue).
    let best = acc.best
    let bestLength = acc.bestLength
    for (let slot = from, s = slotIndex(from); slot < to; slot++, s += step) {
      // A plain load (an Atomics.load costs ~7 ns here, most of a slot's cost): what is decided on it
      // alone is safe, see "Plain loads in a scan" in ./layout.ts. Anything but a mailbox (rare) is
      // loaded again with Atomics by #scanOther, which says whether it is a mailbox after all.
      let state = i32[s + STATE]!
      if (state !== MAILBOX) {
        if (state === FREE) continue
        acc.best = best
        acc.bestLength = bestLength
        state = this.#scanOther(slot, s, top)
        best = acc.best
        bestLength = acc.bestLength
        if (state !== MAILBOX) continue
      }
      const g = i32[s + GROUP]!
      const f = s >> 1
      const c = g * COUNTERS
      // A mailbox's length is derived from its counters (see ./layout.ts).
      const enqueued = f64[f + ENQUEUED]!
      const dequeued = f64[f + DEQUEUED]!
      const overflowed = f64[f + OVERFLOW]!
      const expired = f64[f + EXPIRED]!
      counts[c]! += enqueued
      counts[c + 1]! += dequeued
      counts[c + 2]! += f64[f + REJECTED]!
      counts[c + 3]! += overflowed
      counts[c + 4]! += expired
      mailboxes[g]!++
      const len = queuedOf(enqueued, dequeued, overflowed, expired)
      if (len === 0) continue
      queued[g]! += len
      nonEmpty[g]!++
      if (len > longest[g]!) longest[g] = len
      if (len > bestLength) {
        bestLength = len
        best = slot
      }
      if (top.n > 0) top.offer(len, slot)
    }
    acc.best = best
    acc.bestLength = bestLength
  }

  /**
   * A slot whose plain STATE was neither a mailbox nor FREE: an observed queue, an aggregate, a claim
   * or a folded slot (see ./layout.ts). Counts it, unless STATE loaded again now says MAILBOX: then it
   * returns MAILBOX for the caller to count (else -1).
   */
  #scanOther(slot: number, s: number, top: Longest): number {
    const { i32, f64 } = this.#table
    const acc = this.#acc
    const state = Atomics.load(i32, s + STATE)
    if (state <= MAILBOX) return state === MAILBOX ? MAILBOX : -1
    const g = i32[s + GROUP]!
    if (state >= RETIRED) {
      const folded = Atomics.load(i32, s + RETIRE_EPOCH)
      // In the totals of every scan running or to come: free it, so that scans pass it as FREE. The
      // tagged state makes the CAS fail if it was claimed and folded again since it was loaded.
      if (((acc.freeBelow - folded) | 0) > 0) {
        Atomics.compareExchange(i32, s + STATE, state, FREE)
        return -1
      }
    }
    // Folded: counted here only if its fold is newer than the totals this scan read.
    if (state >= RETIRING && ((Atomics.load(i32, s + STAMP) - acc.versions[g]!) | 0) <= 0) return -1
    const f = s >> 1
    const c = g * COUNTERS
    const enqueued = f64[f + ENQUEUED]!
    const dequeued = f64[f + DEQUEUED]!
    const rejected = f64[f + REJECTED]!
    const overflowed = f64[f + OVERFLOW]!
    const expired = f64[f + EXPIRED]!
    // Gauges stored in the slot (those of observed queues and aggregates) are overwritten by a fold
    // (STAMP, RETIRE_EPOCH, after STATE = FOLDING): kept only if the slot was still live once they
    // were read (Atomics loads, so ordered before the re-check). Counters count either way: a fold
    // that starts now is not in the totals this scan read.
    let len = 0
    let registrations = 0
    let filled = 0
    let waiting = 0
    if (state === OBSERVED) {
      len = Atomics.load(i32, s + LENGTH)
    } else if (state === AGGREGATE) {
      registrations = Atomics.load(i32, s + AGG_MAILBOXES)
      filled = Atomics.load(i32, s + AGG_NONEMPTY)
      waiting = f64[f + AGG_OBSERVED]!
    }
    const now = Atomics.load(i32, s + STATE)
    // A folded slot claimed again meanwhile: then its fold was older than this scan, and in the totals.
    if (state >= RELEASED && now < RELEASED) return -1
    const counts = acc.counts
    counts[c]! += enqueued
    counts[c + 1]! += dequeued
    counts[c + 2]! += rejected
    counts[c + 3]! += overflowed
    counts[c + 4]! += expired
    if (state >= RELEASED) {
      // Not live: what it still holds is abandoned (0 for a mailbox closed and drained).
      counts[c + ABANDONED]! += queuedOf(enqueued, dequeued, overflowed, expired)
      return -1
    }
    const live = now === state
    if (state === AGGREGATE) {
      // A thread's group-only registrations of the group, not one queue.
      if (!live) return -1
      acc.queued[g]! += queuedOf(enqueued, dequeued, overflowed, expired) + waiting
      // Two words the owner stores one after the other (a registration is counted before its first
      // item, its last item before it leaves), so a read racing both may pair an old one with a new
      // one in either direction: clamped, a group never has more non-empty queues than queues.
      acc.nonEmpty[g]! += Math.min(filled, registrations)
      acc.mailboxes[g]! += registrations
      acc.aggregated += registrations
      return -1
    }
    acc.observed++
    acc.mailboxes[g]!++
    if (!live || len === 0) return -1
    acc.queued[g]! += len
    acc.nonEmpty[g]!++
    if (len > acc.longest[g]!) acc.longest[g] = len
    if (len > acc.bestLength) {
      acc.bestLength = len
      acc.best = slot
    }
    if (top.n > 0) top.offer(len, slot)
    return -1
  }

  /** Groups and totals from the accumulators of the last scan. */
  #sum(): RegistryStats {
    const table = this.#table
    const { i32, big } = table
    const { queued, nonEmpty, longest, mailboxes, counts, totals } = this.#acc
    let unslotted = this.#acc.aggregated
    const stats: RegistryStats = {
      totalQueued: 0,
      nonEmpty: 0,
      longest: null,
      enqueued: 0,
      dequeued: 0,
      rejected: 0,
      dropped: { overflow: 0, expired: 0, abandoned: 0 },
      mailboxes: 0,
      observed: this.#acc.observed,
      byGroup: {},
      overflowNames: 0,
      overflowNamesTotal: Number(Atomics.load(big, UNNAMED_TOTAL)),
      capacity: table.capacity,
    }
    // Read after the scan: a group is published before any slot names it, so this covers every g seen.
    const groups = Atomics.load(i32, GROUP_COUNT)
    for (let g = 0; g < groups; g++) {
      const gi = table.groupIndex(g)
      const u = (gi >> 1) + UNSLOTTED
      const c = g * COUNTERS
      // Folded totals, then group-only registrations without an aggregate slot, then the slots.
      const count = (k: number) => totals[c + k]! + Number(Atomics.load(big, u + k)) + counts[c + k]!
      const unslottedHere = Atomics.load(i32, gi + U_MAILBOXES)
      unslotted += unslottedHere
      const group: GroupStats = {
        queued: queued[g]! + Atomics.load(i32, gi + U_QUEUED),
        nonEmpty: nonEmpty[g]! + Math.min(Atomics.load(i32, gi + U_NONEMPTY), unslottedHere),
        longest: longest[g]!,
        mailboxes: mailboxes[g]! + unslottedHere,
        enqueued: count(0),
        dequeued: count(1),
        rejected: count(2),
        dropped: { overflow: count(3), expired: count(4), abandoned: count(ABANDONED) },
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
      stats.dropped.abandoned += group.dropped.abandoned
    }
    stats.overflowNames = unslotted
    const best = this.#acc.best
    if (best >= 0) {
      stats.longest = {
        name: table.slotName(best) ?? '(reused)',
        group: table.groupName(i32[slotIndex(best) + GROUP]!),
        length: this.#acc.bestLength,
      }
    }
    return stats
  }

  #rows(slots: readonly number[]): MailboxStats[] {
    const table = this.#table
    const { i32, f64 } = table
    const now = preciseNow()
    const rows: MailboxStats[] = []
    for (const slot of slots) {
      const s = slotIndex(slot)
      const f = s >> 1
      const gen = Atomics.load(i32, table.metaIndex(slot) + GEN)
      const state = Atomics.load(i32, s + STATE)
      if (state !== MAILBOX && state !== OBSERVED) continue
      const enqueued = f64[f + ENQUEUED]!
      const dequeued = f64[f + DEQUEUED]!
      const overflowed = f64[f + OVERFLOW]!
      const expired = f64[f + EXPIRED]!
      // Derived from this row's own counters (see ./layout.ts), so the row's identity holds.
      const length = state === OBSERVED ? i32[s + LENGTH]! : queuedOf(enqueued, dequeued, overflowed, expired)
      const headTs = f64[f + HEAD_TS]!
      const row: MailboxStats = {
        name: '',
        group: table.groupName(i32[s + GROUP]!),
        length,
        peak: i32[s + PEAK]!,
        enqueued,
        dequeued,
        rejected: f64[f + REJECTED]!,
        dropped: { overflow: overflowed, expired, abandoned: 0 },
        // HEAD_TS is stale in an empty mailbox, and 0 in an observed queue's slot.
        oldestAgeMs: length === 0 || headTs === 0 ? 0 : Math.max(0, now - headTs),
        observed: state === OBSERVED,
      }
      const name = table.slotName(slot)
      // Folded or re-claimed while read: its fields may belong to another occupancy.
      if (name === undefined || Atomics.load(i32, s + STATE) !== state) continue
      if (Atomics.load(i32, table.metaIndex(slot) + GEN) !== gen) continue
      row.name = name
      rows.push(row)
    }
    return rows
  }
}

/** Per-group accumulators reused by every scan: no allocation proportional to the mailboxes. */
class Accumulators {
  readonly queued: Float64Array
  readonly nonEmpty: Int32Array
  readonly longest: Int32Array
  readonly mailboxes: Int32Array
  /** Counters summed from slots, COUNTERS per group. */
  readonly counts: Float64Array
  /** Folded totals read by the scan, COUNTERS per group, and the group version they are of. */
  readonly totals: Float64Array
  readonly versions: Int32Array
  observed = 0
  /** Registrations counted in aggregate slots. */
  aggregated = 0
  /** The longest queue's slot (-1: none) and length. */
  best = -1
  bestLength = 0
  /** RETIRED slots folded before this epoch may be freed by the scan (freeBelow; NaN: none). */
  freeBelow = Number.NaN

  constructor(groups: number) {
    this.queued = new Float64Array(groups)
    this.nonEmpty = new Int32Array(groups)
    this.longest = new Int32Array(groups)
    this.mailboxes = new Int32Array(groups)
    this.counts = new Float64Array(groups * COUNTERS)
    this.totals = new Float64Array(groups * COUNTERS)
    this.versions = new Int32Array(groups)
  }

  reset(): void {
    this.queued.fill(0)
    this.nonEmpty.fill(0)
    this.longest.fill(0)
    this.mailboxes.fill(0)
    this.counts.fill(0)
    this.observed = 0
    this.aggregated = 0
    this.best = -1
    this.bestLength = 0
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
