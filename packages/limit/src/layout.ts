/*
 * Shared memory of one AdaptiveLimit. The tokens themselves are the permits of a
 * `@beamline/semaphore` Semaphore (its own buffer, `handle.semaphore`): the semaphore's CAS is what
 * grants, so in-flight never exceeds the limit, and its resize() is how the limit moves. This buffer
 * holds what the semaphore does not: the published limit and the algorithm's state, the partitions,
 * the queue bound, and one slot per thread with that thread's RTT samples and counters.
 *
 *   header (bytes 0–255)                         written by                    access
 *    0  LIMIT          Int32  the integer limit  the updater (lock holder)     Atomics.store / load
 *    4  UPDATE_LOCK    Int32  0, or threadId+1 of the thread running the update  CAS; a dead holder's
 *                                                                              lock is released by its reclaim
 *    8  EPOCH          Int32  windows closed     the updater                   Atomics.add / load
 *   12  WAITING        Int32  queued waiters, all threads   the queueing thread  Atomics.add / sub
 *   16  MAX_WAITERS … 60  constants written before the handle exists (plain), except SLOTS_USED
 *                     (CAS max when a slot is claimed), RECLAIM_SEQ (a seqlock: CAS from even to odd
 *                     by the reclaiming thread, Atomics.store back to even), CHANGES (Atomics.add:
 *                     odd while the limit is being changed, +2 per change) and RECLAIMED (Atomics.add)
 *   64  MAX_WAIT_MS, TARGET_MS, INTERVAL_MS  Float64 constants (plain, before the handle exists)
 *   88  NEXT_UPDATE_AT, WINDOW_START  Float64 absolute ms (performance.timeOrigin + now)  the updater
 *  104  SAMPLE_RTT, MIN_RTT, ESTIMATE  Float64  last window's RTT, the no-load estimate, the real-valued
 *                     limit                      the updater
 *  128  ALGO_STATE[10] Float64  the algorithm's own state        the updater
 *  208  LAST[6]        Float64  totals at the last window close  the updater
 *
 *   partition p at byte 256 + 64·p (one cache line each: every acquire of p writes its line)
 *   +0  P_INFLIGHT     Int32  tokens of p held now, all threads    Atomics.add / sub (partitioned limits only)
 *   +4  P_GUARANTEED   Int32  p's share of LIMIT, in tokens        the updater, Atomics.store
 *   +8  P_WAITING      Int32  waiters of p, all threads            Atomics.add / sub
 *  +16  P_SHARE        Float64  constant
 *  +24  P_WANT_AT      Float64  absolute ms when p was last refused within its share   any thread, plain
 *
 *   retired totals at byte 256 + 64·P: per partition 8 BigInt64 counters, then 16 BigInt64 globals
 *                     (samples, RTT sum in µs, queued, queue-time sum in µs, 12 histogram buckets)
 *                                                the reclaiming thread        Atomics.add
 *
 *   slot i at byte SLOTS + SLOT_BYTES·i, SLOT_BYTES = 192 + 80·P rounded up to 64
 *   +0  S_OWNER        Int32  threadId + 1; 0 free; -1 being reclaimed   CAS, Atomics.store
 *   +4  S_WAITERS      Int32  this thread's queued waiters   owner, plain
 *   +8  S_HELD         Int32  tokens this thread holds       owner, plain
 *  +16  S_SAMPLES, S_RTT_SUM (ms), S_QUEUED, S_HIST_SUM (ms)  Float64  owner, plain
 *  +64  S_HIST[12]     Float64  queue-time histogram, one count per bucket   owner, plain
 *  +192 + 80·p  SP_HELD, SP_WAITERS Int32, then 8 Float64 counters of partition p  owner, plain
 *
 * Invariants
 *  - Tokens are semaphore permits, granted only by its CAS on the free count: in-flight ≤ LIMIT at
 *    every grant, whatever the threads and partitions (no second counter to race with, unlike the
 *    check-then-increment of Netflix's partitioned limiter, their #233/#234). After a lowered limit
 *    no grant happens until in-flight is under it.
 *  - Σ P_INFLIGHT = Σ S_HELD over live slots = the semaphore's inUse, whenever no acquire or release
 *    is between its steps; each thread's SP_HELD sums to its S_HELD.
 *  - WAITING = Σ S_WAITERS and P_WAITING = Σ SP_WAITERS over live slots, under the same proviso.
 *  - The semaphore's max is never above LIMIT: a lower limit is given to the semaphore before LIMIT,
 *    a higher one after. So `limit.limit` never understates what may be admitted.
 *  - Counters only grow. A dead thread's slot leaves the live sums and enters the retired totals
 *    while RECLAIM_SEQ is odd (it is taken by CAS, so one reclaim at a time), and readers retry
 *    across a change of it, so a sum never sees the slot in both or in neither: stats never go
 *    backwards.
 *
 * Why plain accesses are enough where they are used
 *  - Slot fields have one writer, the owning thread, so a plain read-modify-write cannot lose an
 *    update; other threads read them for stats and the window update (a value a moment old is fine,
 *    and it only ever grows) and, after the owner exited (its thread was joined before 'exit'), to
 *    reclaim. Float64 plain accesses are single aligned 8-byte moves on x64 and arm64.
 *  - P_GUARANTEED is read plainly on the hot path: a value one window old classes one request as
 *    within its share or not; the semaphore's CAS, not this, bounds in-flight.
 *  - P_WANT_AT is a hint written by whichever thread was refused last (last write wins, any value is
 *    a recent time); it only delays loans to other partitions for one interval.
 *  - The update runs in one thread at a time (UPDATE_LOCK), so the updater's fields have one writer
 *    at a time, and the CAS and the lock's release order them between successive holders.
 */

/** Bumped whenever the byte layout changes, so that attach() refuses a handle from another version. */
export const LAYOUT_VERSION = 1
export const HANDLE_KIND = 'beamline.limit'

export const MAX_PARTITIONS = 8
export const HEADER_BYTES = 256
const PARTITION_BYTES = 64
const RETIRED_PARTITION_BYTES = 64
const RETIRED_GLOBAL_BYTES = 128
const SLOT_FIXED_BYTES = 192
const SLOT_PARTITION_BYTES = 80

// Header, Int32 indices.
export const LIMIT = 0
export const UPDATE_LOCK = 1
export const EPOCH = 2
export const WAITING = 3
export const MAX_WAITERS = 4
export const SLOT_COUNT = 5
export const PARTITION_COUNT = 6
export const ALGORITHM = 7
export const MIN_LIMIT = 8
export const MAX_LIMIT = 9
export const LIFO = 10
export const SLOTS_USED = 11
export const RECLAIM_SEQ = 12
export const CHANGES = 13
export const RECLAIMED = 14
// Header, Float64 indices.
export const MAX_WAIT_MS = 8
export const TARGET_MS = 9
export const INTERVAL_MS = 10
export const NEXT_UPDATE_AT = 11
export const WINDOW_START = 12
export const SAMPLE_RTT = 13
export const MIN_RTT = 14
export const ESTIMATE = 15
export const ALGO_STATE = 16
export const LAST = 26
// LAST[…] entries.
export const LAST_SAMPLES = 0
export const LAST_RTT_SUM = 1
export const LAST_DROPS = 2
export const LAST_BUSY = 3
export const LAST_SUCCEEDED = 4

// Partition fields: Int32 offsets from partitionIndex(p), Float64 offsets from partitionIndex(p) / 2.
export const P_INFLIGHT = 0
export const P_GUARANTEED = 1
export const P_WAITING = 2
export const P_SHARE = 2
export const P_WANT_AT = 3

// Per-partition counters, in slots (Float64) and retired (BigInt64), in this order.
export const ACQUIRED = 0
export const SUCCEEDED = 1
export const DROPPED = 2
export const IGNORED = 3
export const REJECTED = 4
export const QUEUE_FULL = 5
export const TIMED_OUT = 6
export const ABORTED = 7
export const COUNTERS = 8

// Retired globals: BigInt64 offsets from retiredGlobalIndex().
export const R_SAMPLES = 0
export const R_RTT_SUM_US = 1
export const R_QUEUED = 2
export const R_HIST_SUM_US = 3
export const R_HIST = 4

// Slot fields: Int32 offsets from slotIndex(i).
export const S_OWNER = 0
export const S_WAITERS = 1
export const S_HELD = 2
// Slot fields: Float64 offsets from slotIndex(i) / 2.
export const S_SAMPLES = 2
export const S_RTT_SUM = 3
export const S_QUEUED = 4
export const S_HIST_SUM = 5
export const S_HIST = 8
// Slot partition block: Int32 offsets from slotPartitionIndex(i, p), counters (Float64) from its half + 2.
export const SP_HELD = 0
export const SP_WAITERS = 1
export const SP_COUNTERS = 2

/** OWNER value while a dead thread's slot is being folded into the retired totals. */
export const RECLAIMING = -1

/** Upper bounds of the queue-time histogram buckets, milliseconds (the last one catches the rest). */
export const QUEUE_TIME_BOUNDS_MS: readonly number[] = [
  1,
  2.5,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  Infinity,
]

export const ALGORITHMS = ['gradient2', 'vegas', 'aimd', 'fixed'] as const

export function slotBytes(partitions: number): number {
  return Math.ceil((SLOT_FIXED_BYTES + SLOT_PARTITION_BYTES * partitions) / 64) * 64
}

function slotsByte(partitions: number): number {
  return HEADER_BYTES + (PARTITION_BYTES + RETIRED_PARTITION_BYTES) * partitions + RETIRED_GLOBAL_BYTES
}

export function bufferBytes(partitions: number, slots: number): number {
  return slotsByte(partitions) + slotBytes(partitions) * slots
}

/** Int32 index of partition p's line; its Float64 index is half of it. */
export function partitionIndex(p: number): number {
  return (HEADER_BYTES + PARTITION_BYTES * p) >> 2
}

/** BigInt64 index of partition p's retired counters. */
export function retiredPartitionIndex(partitions: number, p: number): number {
  return (HEADER_BYTES + PARTITION_BYTES * partitions + RETIRED_PARTITION_BYTES * p) >> 3
}

/** BigInt64 index of the retired globals. */
export function retiredGlobalIndex(partitions: number): number {
  return (HEADER_BYTES + (PARTITION_BYTES + RETIRED_PARTITION_BYTES) * partitions) >> 3
}

/** Int32 index of slot i; its Float64 index is half of it. */
export function slotIndex(partitions: number, i: number): number {
  return (slotsByte(partitions) + slotBytes(partitions) * i) >> 2
}

/** Int32 index of partition p's block in the slot at Int32 index `slot`. */
export function slotPartitionIndex(slot: number, p: number): number {
  return slot + ((SLOT_FIXED_BYTES + SLOT_PARTITION_BYTES * p) >> 2)
}
