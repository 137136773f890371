/*
 * This thread's view of a registry's shared memory: claiming slots (named and aggregate), groups,
 * names, and the reuse of folded slots. Memory layout, writers, the fold protocol and the reason for
 * each Atomics or plain access: see ./layout.ts. Everything here runs at registration, close or
 * stats() time; the per-item hot path (Mailbox.push / shift) writes its own slot directly with plain
 * stores.
 */
import { threadId } from 'node:worker_threads'
import { loadAfterReads, warnOnce } from '@beamline/core'
import { Folds } from './fold.js'
import {
  AGG_HIGH_WATER,
  AGG_MAILBOXES,
  AGGREGATE,
  CAPACITY,
  ENQUEUED,
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
  OWNER,
  PEAK,
  RETIRE_EPOCH,
  RETIRED,
  type Regions,
  regions,
  STATE,
  STORED_LEN,
  slotIndex,
} from './layout.js'
import { graceOver } from './scan.js'

/** The group every mailbox falls back to once `maxGroups` groups exist. Always id 0. */
export const OTHER_GROUP = '_other'

const OWNER_ID = threadId + 1
/** Decoded names kept per thread; cleared wholesale beyond this, so memory stays bounded. */
const NAME_CACHE_LIMIT = 4096
/** Longest wait for the group lock before a registration falls back to OTHER_GROUP. */
const GROUP_LOCK_WAIT_MS = 1000
/** #tryClaim's outcomes: claimed; live or taken by another thread; RETIRED but a scan may need it. */
const CLAIMED = 0
const TAKEN = 1
const NEEDED = 2

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
  /** Named slots: 0 .. capacity − 1. Aggregate slots follow: capacity .. capacity + maxGroups − 1. */
  readonly capacity: number
  readonly maxGroups: number
  readonly nameBytes: number
  readonly regions: Regions
  /** Folding slots, deferred folds, and the reclaim of dead threads. */
  readonly folds: Folds
  /**
   * Named slots this thread folded, oldest first from #freedHead: tried first, so churn in one thread
   * rarely scans.
   */
  readonly #freed: number[] = []
  #freedHead = 0
  /** Where the next scan for a free slot starts. */
  #cursor = 0
  /** This thread's aggregate slot per group id (see GroupOnly). */
  readonly #aggregates = new Map<number, number>()
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
    this.folds = new Folds(this)
  }

  /** Named slots that may be live: the fresh-end cursor, clamped (it may overshoot under contention). */
  get scanLimit(): number {
    return Math.min(Atomics.load(this.i32, HIGH_WATER), this.capacity)
  }

  /** Aggregate slots that may be live, counted from `capacity`. */
  get aggregateLimit(): number {
    return Math.min(Atomics.load(this.i32, AGG_HIGH_WATER), this.maxGroups)
  }

  metaIndex(slot: number): number {
    return (this.regions.meta + slot * META_BYTES) >> 2
  }

  /** Int32 index of group `g`; its BigInt64 index is half of it. */
  groupIndex(g: number): number {
    return (this.regions.groups + g * GROUP_BYTES) >> 2
  }

  /** Int32 index of reader word `r`. */
  readerIndex(r: number): number {
    return (this.regions.readers >> 2) + 2 * r
  }

  /**
   * Claims a free named slot for `name` in group `g` and publishes it as `kind` (MAILBOX or OBSERVED).
   * Returns its index, or -1 when every slot is live: the caller then accounts group-only.
   */
  claim(kind: number, name: string, g: number): number {
    const slot = this.#take()
    if (slot < 0) return -1
    const i32 = this.i32
    const m = this.#occupy(slot, g)
    const offset = this.regions.names + slot * this.nameBytes
    i32[m + NAME_LEN] = Buffer.byteLength(name)
    i32[m + STORED_LEN] = this.bytes.write(name, offset, this.nameBytes, 'utf8')
    Atomics.store(i32, slotIndex(slot) + STATE, kind)
    return slot
  }

  /** Zeroes a slot this thread just claimed and writes its group and owner; returns its meta index. */
  #occupy(slot: number, g: number): number {
    const i32 = this.i32
    const s = slotIndex(slot)
    const f = s >> 1
    i32[s + GROUP] = g
    i32[s + LENGTH] = 0
    i32[s + PEAK] = 0
    this.f64.fill(0, f + ENQUEUED, f + HEAD_TS + 1)
    const m = this.metaIndex(slot)
    Atomics.add(i32, m + GEN, 1)
    i32[m + OWNER] = OWNER_ID
    return m
  }

  #take(): number {
    const i32 = this.i32
    const reused = this.#takeFreed()
    if (reused >= 0) return this.#counted(reused)
    if (Atomics.load(i32, HIGH_WATER) < this.capacity) {
      const slot = Atomics.add(i32, HIGH_WATER, 1)
      if (slot < this.capacity && this.#claimFree(slot)) return this.#counted(slot)
    }
    if (Atomics.load(i32, LIVE) >= this.capacity) return -1
    const limit = this.scanLimit
    for (let n = 0; n < limit; n++) {
      const slot = (this.#cursor + n) % limit
      if (this.#claimAny(slot)) {
        this.#cursor = (slot + 1) % limit
        return this.#counted(slot)
      }
    }
    return -1
  }

  /**
   * A slot from #freed: the newest (its lines are likely cached), or if a scan in progress still needs
   * it, the oldest (folded earliest, so the most likely to be out of every scan's way).
   */
  #takeFreed(): number {
    const freed = this.#freed
    while (freed.length > this.#freedHead) {
      const newest = freed[freed.length - 1]!
      const claimed = this.#tryClaim(newest)
      if (claimed !== NEEDED) {
        freed.pop()
        if (claimed === CLAIMED) return newest
        continue
      }
      const oldest = freed[this.#freedHead]!
      const claimedOldest = this.#tryClaim(oldest)
      if (claimedOldest === NEEDED) return -1
      this.#freedHead++
      if (this.#freedHead === freed.length) {
        freed.length = 0
        this.#freedHead = 0
      } else if (this.#freedHead > 1024 && this.#freedHead * 2 > freed.length) {
        freed.splice(0, this.#freedHead)
        this.#freedHead = 0
      }
      if (claimedOldest === CLAIMED) return oldest
    }
    return -1
  }

  /**
   * Claims `slot` if it is FREE, or RETIRED and no running scan may still need its counters. The CAS
   * expects the RETIRED state it loaded, tagged with that occupancy's GEN: a slot re-claimed and folded
   * again meanwhile (by then needed again) has another tag, so it is not taken by mistake.
   */
  #tryClaim(slot: number): typeof CLAIMED | typeof TAKEN | typeof NEEDED {
    const i32 = this.i32
    const s = slotIndex(slot)
    const state = Atomics.load(i32, s + STATE)
    if (state === FREE) return this.#claimFree(slot) ? CLAIMED : TAKEN
    if (state < RETIRED) return TAKEN
    if (!graceOver(this, Atomics.load(i32, s + RETIRE_EPOCH))) return NEEDED
    return Atomics.compareExchange(i32, s + STATE, state, -OWNER_ID) === state ? CLAIMED : TAKEN
  }

  #counted(slot: number): number {
    Atomics.add(this.i32, LIVE, 1)
    return slot
  }

  /** #tryClaim, for a slot of a scan for one: a plain load first passes over live ones cheaply. */
  #claimAny(slot: number): boolean {
    const state = this.i32[slotIndex(slot) + STATE]!
    return (state === FREE || state >= RETIRED) && this.#tryClaim(slot) === CLAIMED
  }

  #claimFree(slot: number): boolean {
    return Atomics.compareExchange(this.i32, slotIndex(slot) + STATE, FREE, -OWNER_ID) === FREE
  }

  /** A named slot this thread folded (its own, or a dead thread's): reuse it first. */
  folded(slot: number): void {
    if (slot < this.capacity) this.#freed.push(slot)
  }

  /** Folds a slot this thread owns (a mailbox closed and drained, an observation closed). */
  retire(slot: number): void {
    this.folds.fold(slot, OWNER_ID)
  }

  /**
   * This thread's aggregate slot for group `g`, claimed at its first group-only registration there,
   * with one more registration counted in it; -1 when every aggregate slot is live.
   */
  joinAggregate(g: number): number {
    let slot = this.#aggregates.get(g)
    if (slot === undefined) {
      slot = this.#takeAggregate()
      if (slot < 0) return -1
      this.#occupy(slot, g)
      Atomics.store(this.i32, slotIndex(slot) + STATE, AGGREGATE)
      this.#aggregates.set(g, slot)
    }
    this.i32[slotIndex(slot) + AGG_MAILBOXES]!++
    return slot
  }

  /** One registration of group `g` left its aggregate slot; the last one folds it. */
  leaveAggregate(g: number, slot: number): void {
    if (--this.i32[slotIndex(slot) + AGG_MAILBOXES]! > 0) return
    this.#aggregates.delete(g)
    this.retire(slot)
  }

  #takeAggregate(): number {
    const i32 = this.i32
    const first = this.capacity
    if (Atomics.load(i32, AGG_HIGH_WATER) < this.maxGroups) {
      const n = Atomics.add(i32, AGG_HIGH_WATER, 1)
      if (n < this.maxGroups && this.#claimFree(first + n)) return first + n
    }
    const limit = this.aggregateLimit
    for (let n = 0; n < limit; n++) if (this.#claimAny(first + n)) return first + n
    return -1
  }

  /** The id of group `name`, creating it if needed; OTHER_GROUP's id (0) once `maxGroups` exist. */
  groupId(name: string): number {
    const known = this.#groupIds.get(name)
    if (known !== undefined) return known
    const i32 = this.i32
    let id = this.#findGroup(name, 0, Atomics.load(i32, GROUP_COUNT))
    if (id < 0) {
      // The holder is recorded so that the reclaim of a thread that died holding it frees it. That
      // reclaim may need this very thread's event loop, so the wait is bounded (a live holder keeps
      // the lock for microseconds): past it, this registration is counted under OTHER_GROUP.
      const deadline = performance.now() + GROUP_LOCK_WAIT_MS
      while (Atomics.compareExchange(i32, GROUP_LOCK, 0, OWNER_ID) !== 0) {
        const holder = Atomics.load(i32, GROUP_LOCK)
        if (performance.now() > deadline) {
          warnOnce(
            `mailbox:groupLock:${holder}`,
            `MailboxRegistry: thread ${holder - 1} has held the group lock for ${GROUP_LOCK_WAIT_MS} ms (did it die?); group ${JSON.stringify(name)} is counted under '${OTHER_GROUP}' this time`,
          )
          return 0
        }
        if (holder !== 0) Atomics.wait(i32, GROUP_LOCK, holder, 1)
      }
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
