/*
 * This thread's view of a registry's shared memory: claiming and retiring slots, groups, names and
 * the group-only counters. Memory layout, writers and the reason for each Atomics or plain access:
 * see ./layout.ts. Everything here runs at registration, retirement or stats() time; the per-item hot
 * path (Mailbox.push / shift) writes its own slot directly with plain stores.
 */
import { threadId } from 'node:worker_threads'
import { loadAfterReads, warnOnce } from '@beamline/core'
import {
  CAPACITY,
  CLAIMING,
  FREE,
  G_NAME_LEN,
  GEN,
  GROUP,
  GROUP_BYTES,
  GROUP_COUNT,
  GROUP_LOCK,
  GROUP_NAME_BYTES,
  HEAD_TS,
  HIGH_WATER,
  LENGTH,
  LIVE,
  MAILBOX,
  MAX_GROUPS,
  META_BYTES,
  NAME_BYTES,
  NAME_LEN,
  OVERFLOW_NAMES,
  OVERFLOW_TOTAL,
  OWNER,
  PEAK,
  R_ENQUEUED,
  RETIRE_BEGIN,
  RETIRE_END,
  type Regions,
  regions,
  STATE,
  STORED_LEN,
  slotIndex,
  U_MAILBOXES,
  type U_NONEMPTY,
  type U_QUEUED,
} from './layout.js'

/** The group every mailbox falls back to once `maxGroups` groups exist. Always id 0. */
export const OTHER_GROUP = '_other'

const OWNER_ID = threadId + 1
/** Decoded names kept per thread; cleared wholesale beyond this, so memory stays bounded. */
const NAME_CACHE_LIMIT = 4096

/** Lays out and initialises a new registry buffer. */
export function createBuffer(capacity: number, maxGroups: number, nameBytes: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(regions(capacity, maxGroups, nameBytes).total)
  const header = new Int32Array(buffer, 0, 16)
  header[CAPACITY] = capacity
  header[MAX_GROUPS] = maxGroups
  header[NAME_BYTES] = nameBytes
  new SlotTable(buffer).groupId(OTHER_GROUP)
  return buffer
}

export class SlotTable {
  readonly buffer: SharedArrayBuffer
  readonly i32: Int32Array
  readonly f64: Float64Array
  readonly big: BigInt64Array
  readonly bytes: Buffer
  readonly capacity: number
  readonly maxGroups: number
  readonly nameBytes: number
  readonly regions: Regions
  /** Slots this thread retired: tried first, so churn in one thread rarely scans. */
  readonly #freed: number[] = []
  /** Where the next scan for a free slot starts. */
  #cursor = 0
  readonly #groupIds = new Map<string, number>()
  readonly #groupNames: string[] = []
  readonly #names = new Map<number, { gen: number; name: string }>()

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer
    this.i32 = new Int32Array(buffer)
    this.f64 = new Float64Array(buffer)
    this.big = new BigInt64Array(buffer)
    this.bytes = Buffer.from(buffer)
    this.capacity = this.i32[CAPACITY]!
    this.maxGroups = this.i32[MAX_GROUPS]!
    this.nameBytes = this.i32[NAME_BYTES]!
    this.regions = regions(this.capacity, this.maxGroups, this.nameBytes)
  }

  /** Slots that may be live: the fresh-end cursor, clamped (it may overshoot under contention). */
  get scanLimit(): number {
    return Math.min(Atomics.load(this.i32, HIGH_WATER), this.capacity)
  }

  metaIndex(slot: number): number {
    return (this.regions.meta + slot * META_BYTES) >> 2
  }

  /** Int32 index of group `g`; its BigInt64 index is half of it. */
  groupIndex(g: number): number {
    return (this.regions.groups + g * GROUP_BYTES) >> 2
  }

  /**
   * Claims a free slot for `name` in group `g` and publishes it as `kind` (MAILBOX or OBSERVED).
   * Returns its index, or -1 when every slot is live: the caller then accounts group-only.
   */
  claim(kind: number, name: string, g: number): number {
    const slot = this.#take()
    if (slot < 0) return -1
    const i32 = this.i32
    const s = slotIndex(slot)
    const f = s >> 1
    i32[s + GROUP] = g
    i32[s + LENGTH] = 0
    i32[s + PEAK] = 0
    this.f64.fill(0, f + 2, f + HEAD_TS + 1)
    const m = this.metaIndex(slot)
    Atomics.add(i32, m + GEN, 1)
    const offset = this.regions.names + slot * this.nameBytes
    i32[m + NAME_LEN] = Buffer.byteLength(name)
    i32[m + STORED_LEN] = this.bytes.write(name, offset, this.nameBytes, 'utf8')
    i32[m + OWNER] = OWNER_ID
    Atomics.store(i32, s + STATE, kind)
    return slot
  }

  #take(): number {
    const i32 = this.i32
    while (this.#freed.length > 0) {
      const slot = this.#freed.pop()!
      if (Atomics.compareExchange(i32, slotIndex(slot) + STATE, FREE, CLAIMING) === FREE)
        return this.#counted(slot)
    }
    if (Atomics.load(i32, HIGH_WATER) < this.capacity) {
      const slot = Atomics.add(i32, HIGH_WATER, 1)
      if (
        slot < this.capacity &&
        Atomics.compareExchange(i32, slotIndex(slot) + STATE, FREE, CLAIMING) === FREE
      ) {
        return this.#counted(slot)
      }
    }
    if (Atomics.load(i32, LIVE) >= this.capacity) return -1
    const limit = this.scanLimit
    for (let n = 0; n < limit; n++) {
      const slot = (this.#cursor + n) % limit
      if (
        i32[slotIndex(slot) + STATE] === FREE &&
        Atomics.compareExchange(i32, slotIndex(slot) + STATE, FREE, CLAIMING) === FREE
      ) {
        this.#cursor = (slot + 1) % limit
        return this.#counted(slot)
      }
    }
    return -1
  }

  #counted(slot: number): number {
    Atomics.add(this.i32, LIVE, 1)
    return slot
  }

  /**
   * Frees `slot`, first folding its counters into its group's retired totals. Called by the owner once
   * the mailbox is closed and drained (its length is 0), or when an observation is closed.
   */
  retire(slot: number): void {
    const i32 = this.i32
    const s = slotIndex(slot)
    const f = s >> 1
    Atomics.add(i32, RETIRE_BEGIN, 1)
    if (Atomics.load(i32, s + STATE) === MAILBOX) {
      const b = this.groupIndex(i32[s + GROUP]!) >> 1
      for (let k = 0; k < 5; k++) {
        const v = this.f64[f + 2 + k]!
        if (v !== 0) Atomics.add(this.big, b + R_ENQUEUED + k, BigInt(v))
      }
    }
    Atomics.store(i32, s + STATE, FREE)
    Atomics.sub(i32, LIVE, 1)
    Atomics.add(i32, RETIRE_END, 1)
    this.#freed.push(slot)
  }

  /** A registration found no slot: count it, group-only, until leaveGroupOnly(). */
  enterGroupOnly(g: number): void {
    Atomics.add(this.i32, OVERFLOW_NAMES, 1)
    Atomics.add(this.i32, OVERFLOW_TOTAL, 1)
    this.addGroupGauge(g, U_MAILBOXES, 1)
  }

  leaveGroupOnly(g: number): void {
    Atomics.sub(this.i32, OVERFLOW_NAMES, 1)
    this.addGroupGauge(g, U_MAILBOXES, -1)
  }

  /** Counters of a mailbox without a slot, straight into its group's totals (field: R_ENQUEUED …). */
  addGroupCount(g: number, field: number, n: number): void {
    Atomics.add(this.big, (this.groupIndex(g) >> 1) + field, BigInt(n))
  }

  /** Live gauges of a mailbox without a slot (field: U_QUEUED, U_NONEMPTY or U_MAILBOXES). */
  addGroupGauge(
    g: number,
    field: typeof U_QUEUED | typeof U_NONEMPTY | typeof U_MAILBOXES,
    delta: number,
  ): void {
    Atomics.add(this.i32, this.groupIndex(g) + field, delta)
  }

  /** The id of group `name`, creating it if needed; OTHER_GROUP's id (0) once `maxGroups` exist. */
  groupId(name: string): number {
    const known = this.#groupIds.get(name)
    if (known !== undefined) return known
    const i32 = this.i32
    let id = this.#findGroup(name, 0, Atomics.load(i32, GROUP_COUNT))
    if (id < 0) {
      while (Atomics.compareExchange(i32, GROUP_LOCK, 0, 1) !== 0) Atomics.wait(i32, GROUP_LOCK, 1, 1)
      try {
        const count = Atomics.load(i32, GROUP_COUNT)
        id = this.#findGroup(name, 0, count)
        if (id < 0 && count < this.maxGroups) {
          const written = this.bytes.write(
            name,
            this.regions.groupNames + count * GROUP_NAME_BYTES,
            GROUP_NAME_BYTES,
            'utf8',
          )
          i32[this.groupIndex(count) + G_NAME_LEN] = written
          Atomics.store(i32, GROUP_COUNT, count + 1)
          id = count
        }
      } finally {
        Atomics.store(i32, GROUP_LOCK, 0)
        Atomics.notify(i32, GROUP_LOCK)
      }
    }
    if (id < 0) {
      warnOnce(
        `mailbox:maxGroups:${this.maxGroups}`,
        `MailboxRegistry: all ${this.maxGroups} groups are taken (maxGroups); group ${JSON.stringify(name)} and later ones are counted under '${OTHER_GROUP}'`,
      )
      return 0
    }
    this.#groupIds.set(name, id)
    return id
  }

  #findGroup(name: string, from: number, to: number): number {
    for (let id = from; id < to; id++) if (this.groupName(id) === name) return id
    return -1
  }

  /** Name of a published group (immutable once GROUP_COUNT covers it). */
  groupName(id: number): string {
    let name = this.#groupNames[id]
    if (name === undefined) {
      const offset = this.regions.groupNames + id * GROUP_NAME_BYTES
      name = this.bytes.toString('utf8', offset, offset + this.i32[this.groupIndex(id) + G_NAME_LEN]!)
      this.#groupNames[id] = name
    }
    return name
  }

  /**
   * Name of the live slot, decoded once per occupancy and cached; undefined if the slot was freed or
   * re-claimed while being read. A name longer than nameBytes ends in '…'.
   */
  slotName(slot: number): string | undefined {
    const i32 = this.i32
    const s = slotIndex(slot)
    const m = this.metaIndex(slot)
    const gen = Atomics.load(i32, m + GEN)
    const state = Atomics.load(i32, s + STATE)
    if (state < MAILBOX) return undefined
    const cached = this.#names.get(slot)
    if (cached !== undefined && cached.gen === gen) return cached.name
    const offset = this.regions.names + slot * this.nameBytes
    const stored = i32[m + STORED_LEN]!
    let name = this.bytes.toString('utf8', offset, offset + stored)
    if (i32[m + NAME_LEN]! > stored) name += '…'
    // STATE first, ordered after the name's plain loads, then GEN: see "names" in layout.ts.
    if (loadAfterReads(i32, s + STATE) !== state || Atomics.load(i32, m + GEN) !== gen) return undefined
    if (this.#names.size >= NAME_CACHE_LIMIT) this.#names.clear()
    this.#names.set(slot, { gen, name })
    return name
  }
}
