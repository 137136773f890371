/*
 * Shared memory of one MailboxRegistry: a single SharedArrayBuffer that every attached thread maps.
 * C = capacity (slots), G = maxGroups, N = nameBytes (a multiple of 8).
 *
 *   region            bytes                  what
 *   header            0 .. 64                constants, allocation cursors, retirement sequence
 *   slots             64 + 64·i              one cache line per mailbox or observed queue
 *   slot meta         META + 16·i            generation, name length, owner of slot i
 *   slot names        NAMES + N·i            UTF-8 name of slot i (truncated to N bytes)
 *   groups            GROUPS + 128·g         per-group totals of retired and group-only mailboxes
 *   group names       GROUP_NAMES + 200·g    UTF-8 group name
 *
 *   header (Int32 index)                written by                 access
 *    0  CAPACITY        slots C           constructor                plain, before the handle exists
 *    1  MAX_GROUPS      G                 constructor                plain, before the handle exists
 *    2  NAME_BYTES      N                 constructor                plain, before the handle exists
 *    3  HIGH_WATER      slots ever handed out from the fresh end (may overshoot C; readers clamp)
 *                                         any thread claiming        Atomics.add
 *    4  GROUP_LOCK      0 free, 1 held: serialises group creation   CAS / Atomics.store
 *    5  RETIRE_BEGIN    retirements started                          Atomics.add
 *    6  RETIRE_END      retirements finished                         Atomics.add
 *    7  OVERFLOW_NAMES  live registrations that found no free slot   Atomics.add / sub
 *    8  OVERFLOW_TOTAL  such registrations ever                      Atomics.add
 *    9  GROUP_COUNT     groups published (ids 0 .. GROUP_COUNT-1)     Atomics.store under GROUP_LOCK
 *   10  LIVE            slots not FREE (lets a full registry refuse without scanning)   Atomics.add / sub
 *
 *   slot i (Int32 index 16 + 16·i; Float64 index 8 + 8·i)
 *   +0  STATE     Int32   FREE 0, CLAIMING 1, MAILBOX 2, OBSERVED 3   claimer / owner: CAS, Atomics.store
 *   +4  GROUP     Int32   group id                                     claimer, before STATE is published
 *   +8  LENGTH    Int32   observed queue: last sample. Unused (0) in a mailbox's slot, whose length is
 *                         derived: ENQUEUED − DEQUEUED − OVERFLOW − EXPIRED (see queuedOf)
 *                                                                      owner, plain
 *  +12  PEAK      Int32   highest length                               owner, plain
 *  +16  ENQUEUED  Float64 items accepted                               owner, plain
 *  +24  DEQUEUED  Float64 items handed to consumers                    owner, plain
 *  +32  REJECTED  Float64 pushes refused ('reject' when full)          owner, plain
 *  +40  OVERFLOW  Float64 accepted items evicted ('drop-oldest')       owner, plain
 *  +48  EXPIRED   Float64 accepted items dropped for age (maxAgeMs or overload)   owner, plain
 *  +56  HEAD_TS   Float64 enqueue time of the oldest item, ms since the epoch (timeOrigin + now); stale
 *                         while the mailbox is empty (readers check the length), 0 in an observed slot
 *                                                                      owner, plain
 *
 *   slot meta i (Int32 index META/4 + 4·i)
 *   +0  GEN        bumped at every claim, before the name is written   claimer, Atomics.add
 *   +1  NAME_LEN   full UTF-8 length of the name (may exceed N)        claimer, plain (published by STATE)
 *   +2  STORED_LEN bytes actually stored (≤ N, whole characters)       claimer, plain (published by STATE)
 *   +3  OWNER      threadId + 1 of the owning thread                   claimer, plain (published by STATE)
 *
 *   group g (Int32 index GROUPS/4 + 32·g; BigInt64 index GROUPS/8 + 16·g)
 *   +0  G_NAME_LEN   Int32   UTF-8 length of the group name            creator under GROUP_LOCK
 *   +4  U_QUEUED     Int32   items in group-only mailboxes (no slot)   their owners, Atomics.add
 *   +8  U_NONEMPTY   Int32   group-only mailboxes with items           their owners, Atomics.add
 *  +12  U_MAILBOXES  Int32   live group-only mailboxes                 their owners, Atomics.add
 *  +32  R_ENQUEUED … R_EXPIRED  BigInt64 ×5: counters of retired (closed and drained) slots plus every
 *                            count of group-only mailboxes             any thread, Atomics.add
 *
 * Invariants
 *  - A slot's fields are zeroed and its GROUP and name written while STATE is CLAIMING; readers skip
 *    every STATE other than MAILBOX and OBSERVED, so they never see the previous occupant's counters
 *    under the new occupant's name.
 *  - Per group, Σ live slots + R_* counters = everything ever counted by mailboxes of the group:
 *    a slot is retired by adding its counters to R_* and only then freeing it, with RETIRE_BEGIN /
 *    RETIRE_END around the pair. stats() retries a scan that overlapped a retirement (BEGIN ≠ END
 *    before, or BEGIN moved during), so it neither counts a retiring slot twice nor misses it.
 *  - Names: a name read from another thread is valid iff STATE and GEN are unchanged before and after
 *    the bytes are read, a seqlock whose writer is the claimer (ordering argument: @beamline/core's
 *    seqlock.ts). The reader loads GEN and STATE, the bytes (plain), then STATE with core's
 *    loadAfterReads (ordered after the bytes) and GEN last. Writers keep two rules: a slot leaves a
 *    live STATE by an Atomics write before it can be claimed again (so bytes of a later claim are
 *    only visible to a reader whose closing STATE load no longer sees the old live value), and a
 *    claim bumps GEN before it publishes STATE with an Atomics.store (so a closing STATE load that
 *    sees the new live value is followed by a GEN load that sees the new generation).
 *
 * Why plain accesses are enough where they are used
 *  - LENGTH, PEAK and the Float64 counters have exactly one writer, the owning thread, so a plain
 *    store never loses an update; the owner keeps its own copies and only stores, never reads back.
 *    Other threads read them for stats(): a value one operation stale is as good as a fresh one for
 *    monitoring, and once the owner is quiescent its last stores are visible to the next Atomics
 *    operation any reader performs (stats() starts with Atomics loads). Int32 plain accesses never
 *    tear (ECMAScript NoTear); Float64 ones may by the letter of the spec, but V8 emits one aligned
 *    8-byte move on x64 and arm64, which those ISAs perform atomically. 64-bit counters are needed
 *    because a busy mailbox passes 2^31 items within hours. Atomics on these fields would cost a
 *    locked instruction per push and BigInt boxing for 64 bits; plain stores cost ~1 ns.
 *  - A mailbox stores no length: a push stores ENQUEUED, a shift DEQUEUED, and readers derive the
 *    length, so it is exact by construction whenever the owner is quiescent (the accounting identity
 *    cannot be broken by a missed store) and the hot path saves a store per operation. Readers load
 *    ENQUEUED first: the other counters only grow, so a read racing the owner can only under-count
 *    the length at that first load (clamped at 0), never report items that were not there.
 *  - HEAD_TS is stored only when it changes (items pushed in one burst share a coarse timestamp), and
 *    before the counter of the same operation, so a reader that sees a push counted sees its time
 *    (on x64's TSO; elsewhere the age may lag by one operation, like every other field).
 *  - Each slot is one 64-byte cache line (the buffer is page aligned and the header is 64 bytes), so
 *    owners in different threads never write the same line: no false sharing on the hot path.
 *  - STATE, GEN, HIGH_WATER, the group lock and the group-level counters have several writers, so they
 *    are Atomics (sequentially consistent). The group-level counters are written only by retirement
 *    and by mailboxes that found no slot: never on the hot path of a named mailbox.
 */

/** Bumped whenever the byte layout changes, so that attach() refuses a handle from another version. */
export const LAYOUT_VERSION = 2
export const HANDLE_KIND = 'beamline.mailbox-registry'

export const HEADER_BYTES = 64
export const SLOT_BYTES = 64
export const META_BYTES = 16
export const GROUP_BYTES = 128
/** Group names are validated like mailbox names: at most 200 UTF-8 bytes, always stored whole. */
export const GROUP_NAME_BYTES = 200

// Header, Int32 indices.
export const CAPACITY = 0
export const MAX_GROUPS = 1
export const NAME_BYTES = 2
export const HIGH_WATER = 3
export const GROUP_LOCK = 4
export const RETIRE_BEGIN = 5
export const RETIRE_END = 6
export const OVERFLOW_NAMES = 7
export const OVERFLOW_TOTAL = 8
export const GROUP_COUNT = 9
export const LIVE = 10

// Slot STATE values.
export const FREE = 0
export const CLAIMING = 1
export const MAILBOX = 2
export const OBSERVED = 3

// Slot fields, Int32 offsets from the slot's Int32 index.
export const STATE = 0
export const GROUP = 1
export const LENGTH = 2
export const PEAK = 3
// Slot fields, Float64 offsets from the slot's Float64 index.
export const ENQUEUED = 2
export const DEQUEUED = 3
export const REJECTED = 4
export const OVERFLOW = 5
export const EXPIRED = 6
export const HEAD_TS = 7

// Slot meta, Int32 offsets.
export const GEN = 0
export const NAME_LEN = 1
export const STORED_LEN = 2
export const OWNER = 3

// Group fields: Int32 offsets, then BigInt64 offsets, from the group's index in that view.
export const G_NAME_LEN = 0
export const U_QUEUED = 1
export const U_NONEMPTY = 2
export const U_MAILBOXES = 3
export const R_ENQUEUED = 4
export const R_DEQUEUED = 5
export const R_REJECTED = 6
export const R_OVERFLOW = 7
export const R_EXPIRED = 8
/** R_* lists the same counters in the same order as the slot's ENQUEUED … EXPIRED: R_x = x + GROUP_COUNTER. */
export const GROUP_COUNTER = R_ENQUEUED - ENQUEUED

/** Byte offsets of each region for a registry of `capacity` slots, `maxGroups` groups and `nameBytes`. */
export interface Regions {
  meta: number
  names: number
  groups: number
  groupNames: number
  total: number
}

export function regions(capacity: number, maxGroups: number, nameBytes: number): Regions {
  const meta = HEADER_BYTES + capacity * SLOT_BYTES
  const names = meta + capacity * META_BYTES
  const groups = names + capacity * nameBytes
  const groupNames = groups + maxGroups * GROUP_BYTES
  const total = Math.ceil((groupNames + maxGroups * GROUP_NAME_BYTES) / 8) * 8
  return { meta, names, groups, groupNames, total }
}

/** Shared bytes one slot costs, whatever it holds. */
export function bytesPerSlot(nameBytes: number): number {
  return SLOT_BYTES + META_BYTES + nameBytes
}

/**
 * Items queued in a mailbox, from its counters (clamped at 0: a read that races the owner may see a
 * later DEQUEUED than ENQUEUED). Observed queues store their length in LENGTH instead.
 */
export function queuedOf(enqueued: number, dequeued: number, overflowed: number, expired: number): number {
  return Math.max(0, enqueued - dequeued - overflowed - expired)
}

/** Int32 index of slot `i`; its Float64 index is half of it. */
export function slotIndex(i: number): number {
  return (HEADER_BYTES + i * SLOT_BYTES) >> 2
}
