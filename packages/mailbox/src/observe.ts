/**
 * Queues beamline does not own (a socket's writableLength, a pool's pending count, an Array) are
 * sampled on a timer into a registry slot, so every thread's stats() and top() see them next to the
 * mailboxes. The timer is per registry object and thread, unref'd, and runs only while something is
 * observed. A sampler that throws or returns something other than a non-negative number is reported
 * once (per group) and its slot keeps the last good value.
 */
import { warnOnce } from '@beamline/core'
import { GroupOnly } from './group-only.js'
import { LENGTH, OBSERVED, PEAK, slotIndex } from './layout.js'
import type { SlotTable } from './table.js'

export interface ObserveOptions {
  /** Aggregation key, as for mailboxes. Non-empty, at most 200 UTF-8 bytes. Default: the name. */
  group?: string
}

/** A registered observation; close() frees its slot. */
export interface Observation {
  readonly name: string
  readonly group: string
  /** Last good sample (0 before the first). */
  readonly value: number
  close(): void
}

const INT32_MAX = 2 ** 31 - 1

class ObservedQueue implements Observation {
  readonly name: string
  readonly group: string
  value = 0
  readonly #owner: Observer
  readonly #table: SlotTable
  readonly #slot: number
  /** Where this queue is counted when it got no slot. */
  readonly #unslotted: GroupOnly | undefined
  readonly #sample: () => number
  #peak = 0
  #closed = false

  constructor(owner: Observer, table: SlotTable, name: string, group: string, sample: () => number) {
    this.name = name
    this.group = group
    this.#owner = owner
    this.#table = table
    this.#sample = sample
    const groupId = table.groupId(group)
    this.#slot = table.claim(OBSERVED, name, groupId)
    this.#unslotted = this.#slot < 0 ? new GroupOnly(table, groupId) : undefined
  }

  sample(): void {
    let raw: unknown
    try {
      raw = this.#sample()
    } catch (error) {
      warnOnce(
        `mailbox:observe:${this.group}`,
        `MailboxRegistry.observe(${JSON.stringify(this.name)}): the sampler threw; keeping its last value`,
        error,
      )
      return
    }
    if (typeof raw !== 'number' || !(raw >= 0)) {
      warnOnce(
        `mailbox:observe:${this.group}`,
        `MailboxRegistry.observe(${JSON.stringify(this.name)}): the sampler returned ${String(raw)}, not a non-negative number; keeping its last value`,
      )
      return
    }
    this.#store(Math.min(Math.floor(raw), INT32_MAX))
  }

  #store(len: number): void {
    const before = this.value
    this.value = len
    if (this.#unslotted !== undefined) {
      this.#unslotted.sampled(before, len)
      return
    }
    const i32 = this.#table.i32
    const s = slotIndex(this.#slot)
    i32[s + LENGTH] = len
    if (len > this.#peak) i32[s + PEAK] = this.#peak = len
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#owner.remove(this)
    if (this.#unslotted === undefined) {
      this.#table.retire(this.#slot)
      return
    }
    this.#store(0)
    this.#unslotted.leave()
  }
}

/** The observations one registry object holds in this thread, and their sampling timer. */
export class Observer {
  readonly #table: SlotTable
  readonly #intervalMs: number
  readonly #queues = new Set<ObservedQueue>()
  #timer: NodeJS.Timeout | undefined

  constructor(table: SlotTable, intervalMs: number) {
    this.#table = table
    this.#intervalMs = intervalMs
  }

  add(name: string, group: string, sample: () => number): Observation {
    const queue = new ObservedQueue(this, this.#table, name, group, sample)
    this.#queues.add(queue)
    queue.sample()
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.sampleAll(), this.#intervalMs)
      this.#timer.unref()
    }
    return queue
  }

  remove(queue: ObservedQueue): void {
    this.#queues.delete(queue)
    if (this.#queues.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }

  sampleAll(): void {
    for (const queue of this.#queues) queue.sample()
  }

  closeAll(): void {
    for (const queue of [...this.#queues]) queue.close()
  }
}
