/*
 * Where a registration that found every named slot taken is counted (layout: ./layout.ts). Normally in
 * its thread's aggregate slot for its group: one slot per (thread, group) summing the counters, gauges
 * and observed samples of that thread's group-only registrations there, written with plain stores by
 * that thread alone, and folded like any slot when the last of them leaves or the thread dies (so a
 * dead thread's group-only items are counted as abandoned, exactly once). When every aggregate slot is
 * live too (more (thread, group) pairs than maxGroups), in the group's shared UNSLOTTED words with
 * Atomics: still exact, but not reclaimed if the thread dies.
 */
import {
  AGG_NONEMPTY,
  AGG_OBSERVED,
  ENQUEUED,
  slotIndex,
  U_MAILBOXES,
  U_NONEMPTY,
  U_QUEUED,
  UNNAMED_TOTAL,
  UNSLOTTED,
} from './layout.js'
import type { SlotTable } from './table.js'

export class GroupOnly {
  readonly #table: SlotTable
  readonly #g: number
  /** This thread's aggregate slot of the group, or -1: counted in the group's UNSLOTTED words. */
  readonly #slot: number
  /** Int32 index of the aggregate slot, or of the group's words. */
  readonly #i: number

  constructor(table: SlotTable, g: number) {
    this.#table = table
    this.#g = g
    Atomics.add(table.big, UNNAMED_TOTAL, 1n)
    this.#slot = table.joinAggregate(g)
    this.#i = this.#slot >= 0 ? slotIndex(this.#slot) : table.groupIndex(g)
    if (this.#slot < 0) Atomics.add(table.i32, this.#i + U_MAILBOXES, 1)
  }

  /**
   * One event of a mailbox counted in slot counter `field` (ENQUEUED … EXPIRED) that moved its length
   * from `before` to `after`. An aggregate derives its queued items from its counters.
   */
  moved(field: number, before: number, after: number): void {
    const table = this.#table
    if (this.#slot >= 0) {
      table.f64[(this.#i >> 1) + field]!++
    } else {
      Atomics.add(table.big, (this.#i >> 1) + UNSLOTTED + field - ENQUEUED, 1n)
      if (after !== before) Atomics.add(table.i32, this.#i + U_QUEUED, after - before)
    }
    this.#nonEmpty(before, after)
  }

  /** An observed queue's sample went from `before` to `after`. */
  sampled(before: number, after: number): void {
    const table = this.#table
    if (after === before) return
    if (this.#slot >= 0) table.f64[(this.#i >> 1) + AGG_OBSERVED]! += after - before
    else Atomics.add(table.i32, this.#i + U_QUEUED, after - before)
    this.#nonEmpty(before, after)
  }

  #nonEmpty(before: number, after: number): void {
    const delta = before === 0 && after > 0 ? 1 : before > 0 && after === 0 ? -1 : 0
    if (delta === 0) return
    if (this.#slot >= 0) this.#table.i32[this.#i + AGG_NONEMPTY]! += delta
    else Atomics.add(this.#table.i32, this.#i + U_NONEMPTY, delta)
  }

  /** The registration ended (its mailbox closed and drained, or its observation closed). */
  leave(): void {
    if (this.#slot >= 0) this.#table.leaveAggregate(this.#g, this.#slot)
    else Atomics.sub(this.#table.i32, this.#i + U_MAILBOXES, 1)
  }
}
