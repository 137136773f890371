/*
 * Shared memory of a SharedSnapshot, and of the SharedValue and HashRing built on it: a double-buffered
 * seqlock. One SharedArrayBuffer:
 *
 *   header (bytes)                                  written by               access
 *     0  PUBLISHED   Uint32  publishes completed, mod 2^32; buffer PUBLISHED & 1 is current
 *                                                   the writer               Atomics.store; readers Atomics.load
 *     4  STARTED     Uint32  publishes begun, mod 2^32: PUBLISHED or PUBLISHED + 1
 *                                                   the writer               storeBeforeWrites (core);
 *                                                                            readers loadAfterReads (core)
 *     8  CAPACITY    Uint32  bytes per buffer (maxBytes rounded up to 8)   plain, before the handle exists
 *    12  (padding to the cache line)
 *    64  LOCK        Int32   SharedValue writers' lock: 0 free, else threadId + 1 of the holder
 *                                                   setting threads          CAS, Atomics.store, Atomics.wait
 *    68  LOCK_WAITERS Int32  setters parked on LOCK  setting threads          Atomics.add / sub
 *    72  (padding to 128: the lock's line is not the line every reader loads)
 *
 *   buffer b ∈ {0, 1} at byte 128 + b·(16 + CAPACITY)
 *    +0  LENGTH      Uint32  bytes of data in this buffer   the writer      plain (validated, see below)
 *    +8  VERSION     Float64 publishes since construction   the writer      plain (validated)
 *   +16  data        CAPACITY bytes                         the writer      plain (validated)
 *
 * Publish number n (n = PUBLISHED + 1) goes into buffer n & 1: the buffer NOT being read by readers of
 * the current version. The writer
 *   1. announces that buffer n & 1, which held version n − 2, is being overwritten: STARTED = n with
 *      core's storeBeforeWrites (no data store becomes visible before it);
 *   2. writes data, LENGTH and VERSION with plain stores;
 *   3. Atomics.store(PUBLISHED, n) (release: the data is visible before it).
 * It never waits for anybody. A reader
 *   1. p = Atomics.load(PUBLISHED); reads buffer p & 1 (LENGTH, VERSION, data) with plain loads;
 *   2. s = STARTED with core's loadAfterReads (ordered after those plain loads);
 *   3. accepts what it read iff (s − p) mod 2^32 < 2, i.e. no publish n ≥ p + 2 has begun, so buffer
 *      p & 1 still holds exactly version p; otherwise it retries with the new PUBLISHED.
 *   3'. Fast path, for a reader that validated publish p earlier (HashRing keeps per-thread state
 *      decoded from it): read buffer p & 1 again with plain loads, step 2, and accept iff s === p.
 *      No publish has begun since p completed, so p is still the current version (linearizable at the
 *      STARTED load) and nothing in its buffer changed: one Atomics.load per lookup, PUBLISHED unread.
 *      Any other s (a publish in progress or done) falls back to steps 1–3. The counters would have
 *      to wrap 2^32 publishes during one lookup to fool it.
 * It never takes a lock and never writes shared memory.
 *
 * Invariants
 *  - Buffer PUBLISHED & 1 is complete and is only written again after STARTED moves to PUBLISHED + 2.
 *  - STARTED ∈ {PUBLISHED, PUBLISHED + 1}; a writer that fails (too large) fails before step 1, and
 *    one that dies between 1 and 3 leaves a half-written buffer nobody reads: the next publish reuses
 *    n = PUBLISHED + 1.
 *  - VERSION of the current buffer grows by one per publish and is a Float64, so it does not wrap
 *    with the Uint32 counters.
 *
 * Why two buffers and a sequence: a plain seqlock (one buffer) makes every reader retry while a write
 * is in progress; with two buffers a reader is only disturbed when two publishes begin during its
 * read, and readers of the current version are never disturbed at all. Copy-on-publish into fresh
 * memory is not possible: a new SharedArrayBuffer cannot reach other threads without a message.
 * Data, LENGTH and VERSION are plain because the reader validates them afterwards: a torn read is
 * detected and discarded, never returned (callers must cope with garbage until then: every index
 * read from the data is bounds-checked). The counters are Atomics. Why the orderings of writer step 1
 * and reader step 2 hold on x64 and arm64, what V8 and the ECMAScript memory model promise, and what
 * each costs: the block comment of packages/core/src/seqlock.ts. The torn-read stress tests here check
 * it for these structures across real threads.
 */

/** Bumped whenever the byte layout changes, so that attach() refuses a handle from another version. */
export const LAYOUT_VERSION = 1

export const HEADER_BYTES = 128
export const META_BYTES = 16

// Header, Uint32 / Int32 indices.
export const PUBLISHED = 0
export const STARTED = 1
export const CAPACITY = 2
export const MAX_BYTES = 3
export const LOCK = 16
export const LOCK_WAITERS = 17

// Buffer metadata, byte offsets from the buffer's start.
export const LENGTH_OFFSET = 0
export const VERSION_OFFSET = 8

/** Largest maxBytes: two buffers must fit one SharedArrayBuffer comfortably. */
export const MAX_CAPACITY = 2 ** 30

export function capacityFor(maxBytes: number): number {
  return Math.ceil(maxBytes / 8) * 8
}

export function bufferBytes(capacity: number): number {
  return HEADER_BYTES + 2 * (META_BYTES + capacity)
}

/** Byte offset of buffer `b`'s metadata. */
export function bufferOffset(capacity: number, b: number): number {
  return HEADER_BYTES + b * (META_BYTES + capacity)
}
