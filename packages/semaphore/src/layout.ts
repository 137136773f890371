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
 *   12  SEQ             Int32   wake-up sequence, wraps mod 2^32 (only compared for equality)
 *                                                                       Atomics.add + notify (release, resize, reclaim);
 *                                                                       Atomics.waitAsync (waiting threads)
 *   16  MAX_WAITERS     Int32   constant after construction             plain write before the handle exists
 *   20  SLOT_COUNT      Int32   constant after construction             plain write before the handle exists
 *   24  (padding to the cache line)
 *
 *   slot i at byte 64 + 64·i                written by                 access
 *   +0  OWNER           Int32   threadId + 1; 0 free; -1 being reclaimed
 *                                           claiming / reclaiming thread  CAS, Atomics.store
 *   +4  HELD            Int32   permits the occupant holds       occupant   plain
 *   +8  PEAK            Int32   highest inUse seen at acquires through this slot, by any occupant
 *                                           occupant                    plain
 *  +12  WAITERS         Int32   the occupant's parked acquire() calls   occupant   plain
 *  +16  ACQUIRED        Float64 calls granted       ┐ through this slot since the semaphore was
 *  +24  REJECTED        Float64 calls rejected      │ created, by every thread that occupied it:
 *  +32  TIMED_OUT       Float64 acquire() calls that│ the occupant, or the reclaimer while
 *                               stopped waiting     │ OWNER = -1        plain
 *  +40  RECLAIMED       Float64 permits returned on │
 *                               behalf of dead occupants ┘ (reclaimer only)
 *  +48  (padding)
 *
 * Invariants
 *  - Permits are granted only by a CAS that moves FREE from f ≥ p to f − p, so the number of permits
 *    held never exceeds MAX (Discord's saturating ets:update_counter). After resize(m) FREE already
 *    reflects m, so no acquire succeeds while held ≥ m.
 *  - Σ HELD over slots + FREE = MAX whenever no acquire/release is between its two steps.
 *  - WAITING = Σ WAITERS over slots, under the same proviso.
 *  - Statistics never move, so no reader sees them dip or doubled (issue 15 #7). A slot's counters
 *    (ACQUIRED … RECLAIMED, PEAK) belong to the slot, not to its thread: they are never reset or
 *    folded elsewhere, a reclaim only adds to them (the dead occupant's parked calls to TIMED_OUT, its
 *    permits to RECLAIMED) and the next occupant goes on counting from where they are. stats() sums
 *    every slot whatever its OWNER. So each event is counted once, in one word, from the moment it is
 *    counted; every word only grows; and a later stats() reads every word no earlier than a previous
 *    one did (read-read coherence), so no reported counter decreases, whichever reclaim, claim or
 *    exit a concurrent stats() meets — without a retry loop, so a reclaiming thread that dies midway
 *    stalls nobody. Each word has one writer at a time; the hand-offs are ordered: occupant →
 *    reclaimer by the thread's exit (the OS join orders its stores before the 'exit' event),
 *    reclaimer → next occupant by Atomics.store(OWNER, 0) and the claimer's CAS (happens-before).
 *  - Every acquisition call that passes argument validation ends in exactly one increment: ACQUIRED
 *    (granted), REJECTED (tryAcquire / call / tryCall found no free permit; acquire() found the queue
 *    full or asked for more than max), or TIMED_OUT (acquire() stopped waiting: deadline, aborted
 *    signal, or its thread died while it was parked). Hence acquired + rejected + timedOut = calls,
 *    once none is parked.
 *  - Counters do not wrap: Float64 counts are exact to 2^53 (28 years at 10 million per second; past
 *    that they stop growing instead of going back). The Int32 words are gauges bounded by 2^30 + the
 *    waiters, or SEQ, which may wrap.
 *
 * Why plain accesses are enough where they are used
 *  - HELD, PEAK, WAITERS and the Float64 statistics have one writer at a time (above), so a plain
 *    read-modify-write cannot lose an update; only the occupant reads HELD on the hot path. Other
 *    threads read them for stats() (a slightly stale value is fine) and, after the occupant has exited,
 *    to reclaim. Int32 plain accesses never tear (ECMAScript NoTear). Float64 plain accesses may tear
 *    by the letter of the spec, but V8 emits one aligned 8-byte move on x64 and arm64, which those ISAs
 *    perform atomically; 64-bit counters are needed because a busy semaphore passes 2^31 grants within
 *    an hour.
 *  - The acquire path reads FREE plainly once, as the expected value of its CAS: the CAS validates
 *    it, so a stale read costs a retry, never a wrong grant; a rejection re-reads FREE with Atomics.load.
 *  - FREE, MAX, WAITING and SEQ are read and written by many threads and order the hand-off between a
 *    release and a parked waiter, so they are always Atomics (sequentially consistent). A waiter
 *    increments WAITING before it reads SEQ and retries; a release adds to FREE before it reads
 *    WAITING. Either the waiter's retry sees the permit, or the release sees the waiter and bumps SEQ,
 *    which wakes (or pre-empts) the waiter's Atomics.waitAsync on SEQ: no wake-up is lost.
 */

/** Bumped whenever the byte layout changes, so that attach() refuses a handle from another version. */
export const LAYOUT_VERSION = 2
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

// Slot fields, Int32 offsets from the slot's Int32 index.
export const OWNER = 0
export const HELD = 1
export const PEAK = 2
export const WAITERS = 3
// Slot fields, Float64 offsets from the slot's Float64 index.
export const ACQUIRED = 2
export const REJECTED = 3
export const TIMED_OUT = 4
export const RECLAIMED = 5

/** OWNER value while a dead thread's slot is being reclaimed. */
export const RECLAIMING = -1

export function bufferBytes(slots: number): number {
  return HEADER_BYTES + slots * SLOT_BYTES
}

/** Int32 index of slot `i`; its Float64 index is half of it. */
export function slotIndex(i: number): number {
  return (HEADER_BYTES + i * SLOT_BYTES) >> 2
}
