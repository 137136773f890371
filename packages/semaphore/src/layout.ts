/*
 * Shared memory of one Semaphore: a 64-byte header, then one 64-byte slot per thread that attached.
 * Each slot owns a whole cache line so that threads writing their own statistics never contend.
 *
 *   header (bytes)                          written by                 access
 *    0  FREE            Int32   permits not held; may go negative after a shrinking resize
 *                                           any thread                  CAS (acquire), Atomics.add (release)
 *    4  MAX             Int32   current max  resize(), any thread       CAS, then FREE += delta; the
 *                                                                       acquire path reads it plainly for
 *                                                                       the peak statistic only
 *    8  WAITING         Int32   acquire() calls parked, all threads
 *                                           the parking thread          Atomics.add / sub
 *   12  SEQ             Int32   wake-up sequence                        Atomics.add + notify (release, resize, reclaim);
 *                                                                       Atomics.waitAsync (waiting threads)
 *   16  MAX_WAITERS     Int32   constant after construction             plain write before the handle exists
 *   20  SLOT_COUNT      Int32   constant after construction             plain write before the handle exists
 *   24  RECLAIMED       Int32   permits returned from dead threads      Atomics.add (reclaiming thread)
 *   28  RETIRED_PEAK    Int32   highest peak of reclaimed slots         CAS max (reclaiming thread)
 *   32  RETIRED_ACQUIRED   BigInt64  statistics folded in from         Atomics.add (reclaiming thread; several
 *   40  RETIRED_REJECTED   BigInt64  reclaimed slots                   watchers may reclaim at once)
 *   48  RETIRED_TIMED_OUT  BigInt64
 *   56  (padding to the cache line)
 *
 *   slot i at byte 64 + 64·i                written by                 access
 *   +0  OWNER           Int32   threadId + 1; 0 free; -1 being reclaimed
 *                                           claiming / reclaiming thread  CAS, Atomics.store
 *   +4  HELD            Int32   permits this thread holds        owner    plain
 *   +8  PEAK            Int32   highest inUse seen at this thread's acquires   owner   plain
 *  +12  WAITERS         Int32   this thread's parked acquire() calls   owner   plain
 *  +16  ACQUIRED        Float64 permits granted to this thread    owner    plain
 *  +24  REJECTED        Float64 refusals (tryAcquire / call / tryCall)   owner   plain
 *  +32  TIMED_OUT       Float64 acquire() deadlines missed        owner    plain
 *  +40  (padding)
 *
 * Invariants
 *  - Permits are granted only by a CAS that moves FREE from f ≥ p to f − p, so the number of permits
 *    held never exceeds MAX (Discord's saturating ets:update_counter). After resize(m) FREE already
 *    reflects m, so no acquire succeeds while held ≥ m.
 *  - Σ HELD over live slots + FREE = MAX whenever no acquire/release is between its two steps.
 *  - WAITING = Σ WAITERS over live slots, under the same proviso.
 *
 * Why plain accesses are enough where they are used
 *  - HELD, PEAK, WAITERS and the Float64 statistics have one writer, the owning thread, so a plain
 *    read-modify-write cannot lose an update; only that thread reads HELD on the hot path. Other
 *    threads read them for stats() (a slightly stale value is fine) and, after the owner has exited
 *    (the OS thread join orders its writes before the 'exit' event), to reclaim. Int32 plain accesses
 *    never tear (ECMAScript NoTear). Float64 plain accesses may tear by the letter of the spec, but V8
 *    emits one aligned 8-byte move on x64 and arm64, which those ISAs perform atomically; 64-bit
 *    counters are needed because a busy semaphore passes 2^31 grants within an hour.
 *  - The acquire path reads FREE plainly once, as the expected value of its CAS: the CAS validates
 *    it, so a stale read costs a retry, never a wrong grant; a refusal re-reads FREE with Atomics.load.
 *  - FREE, MAX, WAITING and SEQ are read and written by many threads and order the hand-off between a
 *    release and a parked waiter, so they are always Atomics (sequentially consistent). A waiter
 *    increments WAITING before it reads SEQ and retries; a release adds to FREE before it reads
 *    WAITING. Either the waiter's retry sees the permit, or the release sees the waiter and bumps SEQ,
 *    which wakes (or pre-empts) the waiter's Atomics.waitAsync on SEQ: no wake-up is lost.
 */

/** Bumped whenever the byte layout changes, so that attach() refuses a handle from another version. */
export const LAYOUT_VERSION = 1
export const HANDLE_KIND = 'beamline.semaphore'

export const HEADER_BYTES = 64
export const SLOT_BYTES = 64

// Header, Int32 indices.
export const FREE = 0
export const MAX = 1
export const WAITING = 2
export const SEQ = 3
export const MAX_WAITERS = 4
export const SLOT_COUNT = 5
export const RECLAIMED = 6
export const RETIRED_PEAK = 7
// Header, BigInt64 indices.
export const RETIRED_ACQUIRED = 4
export const RETIRED_REJECTED = 5
export const RETIRED_TIMED_OUT = 6

// Slot fields, Int32 offsets from the slot's Int32 index.
export const OWNER = 0
export const HELD = 1
export const PEAK = 2
export const WAITERS = 3
// Slot fields, Float64 offsets from the slot's Float64 index.
export const ACQUIRED = 2
export const REJECTED = 3
export const TIMED_OUT = 4

/** OWNER value while a dead thread's slot is being folded into the retired totals. */
export const RECLAIMING = -1

export function bufferBytes(slots: number): number {
  return HEADER_BYTES + slots * SLOT_BYTES
}

/** Int32 index of slot `i`; its Float64 index is half of it. */
export function slotIndex(i: number): number {
  return (HEADER_BYTES + i * SLOT_BYTES) >> 2
}
