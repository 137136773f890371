/*
 * Folding live slots into their group's totals (the writer's side of the protocol in ./layout.ts), and
 * reclaiming the slots, locks and reader words of a thread that died. A fold takes its group's fold
 * lock and never waits for it longer than a short spin: a fold that finds the lock taken (by a thread
 * that may be dead, and whose reclaim may need this very thread's event loop, or merely descheduled)
 * is deferred and retried on a timer. Meanwhile the slot is RELEASED: scans count its final counters,
 * so nothing is counted twice or lost, and no longer count it as live. (The timer may not run for a
 * long time, for as long as this thread runs synchronous code.)
 */
import { threadId } from 'node:worker_threads'
import {
  ABANDONED,
  AGGREGATE,
  COUNTERS,
  DEQUEUED,
  ENQUEUED,
  EXPIRED,
  FOLD_FOR,
  FOLD_OWNER,
  FOLD_SLOT,
  FOLDING,
  FREE,
  GEN,
  GROUP,
  GROUP_COUNT,
  GROUP_LOCK,
  LIVE,
  MAILBOX,
  OVERFLOW,
  OWNER,
  PUBLISHED,
  queuedOf,
  RELEASED,
  RETIRE_EPOCH,
  RETIRING,
  readTotal,
  retiredState,
  SCAN_EPOCH,
  STAMP,
  STARTED,
  STATE,
  slotIndex,
  TOTALS,
  writeTotal,
} from './layout.js'
import { releaseReader } from './scan.js'
import type { SlotTable } from './table.js'

const OWNER_ID = threadId + 1
/** Loads of a taken fold lock before the fold is deferred (a fold holds it for about a microsecond). */
const LOCK_SPINS = 2000
const RETRY_FIRST_MS = 1
const RETRY_MAX_MS = 1000

/** #try's outcomes: folded; not a live slot of that owner (any more); its group's lock is taken. */
const DONE = 0
const GONE = 1
const BUSY = 2

function isLive(state: number): boolean {
  return state >= MAILBOX && state <= AGGREGATE
}

/** Live, or let go with its fold deferred: a slot whose occupancy is still to be folded. */
function isUnfolded(state: number): boolean {
  return state >= MAILBOX && state <= RELEASED
}

export class Folds {
  readonly #table: SlotTable
  /** Deferred folds: (slot, owner) pairs. */
  readonly #pending: number[] = []
  #timer: NodeJS.Timeout | undefined
  #retryMs = RETRY_FIRST_MS

  constructor(table: SlotTable) {
    this.#table = table
  }

  /** Folds live `slot` of thread `owner` (threadId + 1): now, or soon if its group's lock is taken. */
  fold(slot: number, owner: number): void {
    if (this.#try(slot, owner) === BUSY) {
      this.#release(slot, owner)
      this.#pending.push(slot, owner)
      this.#schedule()
    }
  }

  /**
   * Marks a slot whose fold is deferred as no longer live. A CAS from the live state loaded: another
   * reclaimer of the same dead owner may be doing the same, or have folded it already.
   */
  #release(slot: number, owner: number): void {
    const i32 = this.#table.i32
    const s = slotIndex(slot)
    const state = Atomics.load(i32, s + STATE)
    if (isLive(state) && i32[this.#table.metaIndex(slot) + OWNER] === owner)
      Atomics.compareExchange(i32, s + STATE, state, RELEASED)
  }

  /**
   * Reclaims everything thread `owner` (threadId + 1, now dead) held: folds it was doing, the group
   * lock, its reader word, slots it was claiming, and its live slots, whose queued items are counted
   * as abandoned. Safe to run in several threads for the same owner: each step is a CAS or a fold
   * re-checked under its group's lock, so each happens once.
   */
  reclaim(owner: number): void {
    if (owner <= 0 || owner === OWNER_ID) return
    const table = this.#table
    const i32 = table.i32
    const groups = Atomics.load(i32, GROUP_COUNT)
    for (let g = 0; g < groups; g++) {
      const gi = table.groupIndex(g)
      if (Atomics.compareExchange(i32, gi + FOLD_OWNER, owner, OWNER_ID) !== owner) continue
      try {
        this.#finish(g, gi)
      } finally {
        Atomics.store(i32, gi + FOLD_OWNER, 0)
      }
    }
    if (Atomics.compareExchange(i32, GROUP_LOCK, owner, 0) === owner) Atomics.notify(i32, GROUP_LOCK)
    releaseReader(table, owner)
    this.#reclaimRange(owner, 0, table.scanLimit)
    this.#reclaimRange(owner, table.capacity, table.capacity + table.aggregateLimit)
  }

  #reclaimRange(owner: number, from: number, to: number): void {
    const table = this.#table
    const i32 = table.i32
    for (let slot = from; slot < to; slot++) {
      // The dead thread's slots no longer change: a plain load finds them (the CAS or the fold re-checks).
      const state = i32[slotIndex(slot) + STATE]!
      if (state === -owner) {
        // Died claiming it: nothing was published in it.
        if (
          Atomics.compareExchange(i32, slotIndex(slot) + STATE, state, FREE) === state &&
          slot < table.capacity
        )
          Atomics.sub(i32, LIVE, 1)
      } else if (isUnfolded(state) && i32[table.metaIndex(slot) + OWNER] === owner) {
        this.fold(slot, owner)
      }
    }
  }

  #try(slot: number, owner: number): number {
    const table = this.#table
    const i32 = table.i32
    const s = slotIndex(slot)
    if (!this.#holds(slot, owner)) return GONE
    const g = i32[s + GROUP]!
    const gi = table.groupIndex(g)
    if (!this.#lock(gi)) return BUSY
    try {
      // Another reclaimer of the same dead owner may have folded it before we got the lock.
      if (!this.#holds(slot, owner) || i32[s + GROUP] !== g) return GONE
      Atomics.store(i32, gi + FOLD_SLOT, slot)
      Atomics.store(i32, gi + FOLD_FOR, owner)
      this.#foldLocked(gi, slot)
    } finally {
      Atomics.store(i32, gi + FOLD_OWNER, 0)
    }
    table.folded(slot)
    return DONE
  }

  #holds(slot: number, owner: number): boolean {
    const i32 = this.#table.i32
    return (
      isUnfolded(Atomics.load(i32, slotIndex(slot) + STATE)) &&
      i32[this.#table.metaIndex(slot) + OWNER] === owner
    )
  }

  #lock(gi: number): boolean {
    const i32 = this.#table.i32
    for (let spin = 0; spin < LOCK_SPINS; spin++) {
      if (
        Atomics.load(i32, gi + FOLD_OWNER) === 0 &&
        Atomics.compareExchange(i32, gi + FOLD_OWNER, 0, OWNER_ID) === 0
      )
        return true
    }
    return false
  }

  /** Steps 1–6 of a fold (./layout.ts), under the group's lock, FOLD_SLOT and FOLD_FOR stored. */
  #foldLocked(gi: number, slot: number): void {
    const table = this.#table
    const { i32, f64 } = table
    const s = slotIndex(slot)
    const f = s >> 1
    const version = Atomics.load(i32, gi + PUBLISHED)
    const next = (version + 1) | 0
    Atomics.store(i32, gi + STARTED, next)
    const from = gi + TOTALS + (version & 1) * 2 * COUNTERS
    const to = gi + TOTALS + (next & 1) * 2 * COUNTERS
    for (let k = 0; k < ABANDONED; k++)
      writeTotal(i32, to + 2 * k, readTotal(i32, from + 2 * k) + f64[f + ENQUEUED + k]!)
    const abandoned = queuedOf(f64[f + ENQUEUED]!, f64[f + DEQUEUED]!, f64[f + OVERFLOW]!, f64[f + EXPIRED]!)
    writeTotal(i32, to + 2 * ABANDONED, readTotal(i32, from + 2 * ABANDONED) + abandoned)
    Atomics.store(i32, s + STATE, FOLDING)
    Atomics.store(i32, s + STAMP, next)
    if (slot < table.capacity) Atomics.sub(i32, LIVE, 1)
    Atomics.store(i32, s + STATE, RETIRING)
    Atomics.store(i32, gi + PUBLISHED, next)
    this.#retired(slot)
  }

  /** Step 6: the fold is published; record when, so claimers know which scans may still need it. */
  #retired(slot: number): void {
    const table = this.#table
    const i32 = table.i32
    const s = slotIndex(slot)
    Atomics.store(i32, s + RETIRE_EPOCH, Atomics.load(i32, SCAN_EPOCH))
    Atomics.store(i32, s + STATE, retiredState(Atomics.load(i32, table.metaIndex(slot) + GEN)))
  }

  /** Completes the fold a dead thread was doing in group `g` (its lock now held by this thread). */
  #finish(g: number, gi: number): void {
    const table = this.#table
    const i32 = table.i32
    const slot = Atomics.load(i32, gi + FOLD_SLOT)
    const owner = Atomics.load(i32, gi + FOLD_FOR)
    const s = slotIndex(slot)
    const state = Atomics.load(i32, s + STATE)
    if (state === RETIRING) {
      // Stamped after its totals were written: only the publication (step 5) may be missing.
      const stamp = Atomics.load(i32, s + STAMP)
      if (stamp !== Atomics.load(i32, gi + PUBLISHED)) Atomics.store(i32, gi + PUBLISHED, stamp)
      this.#retired(slot)
      table.folded(slot)
    } else if (
      (state === FOLDING || this.#holds(slot, owner)) &&
      i32[table.metaIndex(slot) + OWNER] === owner &&
      i32[s + GROUP] === g
    ) {
      // Steps 1–4 are redone: they only read buffer PUBLISHED & 1 and the slot, which nobody changed.
      this.#foldLocked(gi, slot)
      table.folded(slot)
    }
    // Otherwise the dead thread died before storing FOLD_SLOT: those name an earlier, finished fold.
  }

  #schedule(): void {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#flush()
    }, this.#retryMs)
    this.#timer.unref()
  }

  #flush(): void {
    const pending = this.#pending
    let kept = 0
    for (let n = 0; n < pending.length; n += 2) {
      if (this.#try(pending[n]!, pending[n + 1]!) !== BUSY) continue
      pending[kept++] = pending[n]!
      pending[kept++] = pending[n + 1]!
    }
    pending.length = kept
    if (kept === 0) {
      this.#retryMs = RETRY_FIRST_MS
      return
    }
    // A lock still taken after a spin is probably held by a dead thread not yet reclaimed: back off.
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS)
    this.#schedule()
  }
}
