/*
 * Shared memory of one Channel: a bounded multi-producer single-consumer ring of byte frames.
 * One SharedArrayBuffer = a 256-byte header, one 64-byte slot per producing thread (maxThreads), then
 * the data region of exactly `capacityBytes` (a power of two). Positions count 8-byte units and run
 * modulo 2^31; a position's place in the data region is `position mod capacityUnits`.
 *
 *   header (bytes)                              written by                     access
 *    0  CAPACITY_UNITS   Int32  capacityBytes / 8      creator, before the handle exists   plain
 *    4  MAX_THREADS      Int32  producer slots         creator, before the handle exists   plain
 *    8  CONSUMER         Int32  threadId + 1 of the consuming thread; 0 none; -1 being reclaimed
 *                                                      the consumer (claims), the exit listener
 *                                                                                          CAS, Atomics.store
 *   12  RECLAIM_BEGIN    Int32  } a dead thread's slot is being folded into the RETIRED_* totals
 *   16  RECLAIM_END      Int32  } while BEGIN ≠ END    the exit listener                Atomics.add; stats()
 *                                                                                          retries its scan
 *   20  DEAD_SLOTS       Int32  slots marked dead      exit listener (+1), consumer and claimers (−1 when
 *                                                      they free one)                     Atomics.add/sub; the
 *                                                      consumer looks for a dead stamp's slot only if ≠ 0
 *   64  TAIL             Int32  bit 31 CLOSED; bits 0–30 the position up to which space is reserved
 *                                                      producers (reserve), close()       CAS, Atomics.or
 *   68  WAITING_SENDERS  Int32  send() calls parked, all threads
 *                                                      the parking thread, the exit listener   Atomics.add/sub
 *   72  ROOM_SEQ         Int32  wake-up word of parked senders
 *                                                      consumer, close(), exit listener   Atomics.add + notify;
 *                                                                                          senders Atomics.waitAsync
 *  128  HEAD             Int32  position up to which records are consumed and their bytes zeroed
 *                                                      the consumer                       Atomics.store
 *  132  READ             Int32  position the consumer is freeing up to (READ ≠ HEAD only while it zeroes)
 *                                                      the consumer                       Atomics.store
 *  136  CONSUMER_PARKED  Int32  1 while the consumer waits for a frame
 *                                                      consumer (sets), a committing producer (clears)  CAS
 *  140  DATA_SEQ         Int32  wake-up word of the consumer
 *                                                      the producer that cleared PARKED, close(), exit listener
 *                                                                                          Atomics.add + notify;
 *                                                                                          consumer Atomics.waitAsync
 *  144  FRAMES_RECEIVED  Float64 } consumer statistics the consumer                       plain
 *  152  BYTES_RECEIVED   Float64 }
 *  160  ABANDONED        Float64 } reservations of dead producers that the consumer skipped
 *  192  RETIRED_SENT_FRAMES     BigInt64 } statistics folded in from the slots of
 *  200  RETIRED_SENT_BYTES      BigInt64 } dead threads                the exit listener  Atomics.add
 *  208  RETIRED_REFUSED_FRAMES  BigInt64 }
 *  216  RETIRED_REFUSED_BYTES   BigInt64 }
 *  224  RETIRED_TIMED_OUT       BigInt64 }
 *  (each 64-byte line holds what one side writes: line 1 the producers' TAIL, line 2 the consumer's)
 *
 *   slot i at byte 256 + 64·i                   written by                     access
 *   +0  OWNER            Int32  threadId + 1; 0 free; -1 being reclaimed; -(threadId + 2) dead, its
 *                               reservation (if any) not yet skipped
 *                                                      claiming thread, exit listener, consumer (frees a
 *                                                      dead slot once it skipped its record)   CAS, Atomics.store
 *   +4  DEAD_TAIL        Int32  TAIL when the thread was found dead: its reservation, if any, lies before
 *                                                      the exit listener                  Atomics.store
 *   +8  WAITERS          Int32  this thread's parked send() calls   owner                 plain
 *  +16  SENT_FRAMES      Float64  frames committed      owner                              plain
 *  +24  SENT_BYTES       Float64
 *  +32  REFUSED_FRAMES   Float64  trySend() rejections (full)
 *  +40  REFUSED_BYTES    Float64
 *  +48  TIMED_OUT        Float64  send() deadlines missed
 *
 *   a record at data byte 8·(position mod capacityUnits)
 *   +0  STATE  Int32  0: free, or reserved and not yet stamped; -(threadId + 1): being written by that
 *                     thread; len + 1: committed, `len` bytes follow
 *   +4  UNITS  Int32  the record's size in 8-byte units, header included: 1 + ceil(len / 8)
 *   +8  the frame's bytes, wrapping from the end of the data region to its start
 *
 * A producer reserves with one CAS of TAIL from t to t + units, after checking t + units − HEAD ≤
 * capacityUnits; stamps the record (UNITS, then STATE = -(threadId + 1), plain stores); copies the
 * frame; commits with Atomics.store(STATE, len + 1); and notifies the consumer only if it had parked
 * (it clears CONSUMER_PARKED with a CAS, so one producer notifies, not all). The consumer reads STATE at
 * HEAD with Atomics.load: committed → copies the frame out; a stamp of a thread marked dead → skips
 * UNITS; anything else → nothing to read yet (it never waits inside a call: receive() is wait-free).
 * It frees by storing READ, zeroing the bytes, then storing HEAD, and notifies parked senders only if
 * WAITING_SENDERS ≠ 0.
 *
 * Invariants
 *  I1. 0 ≤ TAIL − HEAD ≤ capacityUnits and HEAD ≤ READ ≤ TAIL (modulo 2^31).
 *  I2. Every data byte outside [HEAD, TAIL) is zero: the consumer zeroes a record before HEAD passes
 *      it, producers write only inside their own reservation. So a reserved, not yet stamped record
 *      reads STATE = 0, never a stale header.
 *  I3. Records tile [HEAD, TAIL): each starts where the previous one ends; the records of the
 *      reservation at t belong to the producer whose CAS moved TAIL from t. Reservations are totally
 *      ordered by that CAS, and a batch's frames are in its reservation in the order given, so the
 *      frames of one producer are in the ring in the order it sent them, and the consumer reads in
 *      ring order.
 *  I4. STATE goes 0 → -(tid + 1) → len + 1, each step written only by the owner; the consumer reads a
 *      frame's bytes only after an Atomics.load of STATE returned len + 1, which synchronizes with the
 *      owner's Atomics.store: it never reads half of a frame.
 *  I5. A record is skipped unread only when its STATE is -(tid + 1) and a slot reads -(tid + 2), i.e.
 *      thread tid is dead (below). Committed records are never skipped: nothing committed is lost.
 *
 * Batches (trySendMany): one CAS reserves the records of several frames, and the stamp at t says
 * UNITS = the whole reservation. Before committing each frame but the last, the producer stamps the
 * rest of the reservation as the next record (UNITS = what is left, STATE = -(tid + 1), plain), and
 * the commit store orders that stamp before it. So a thread has one open record at every moment, and
 * it covers everything the thread reserved and has not committed: a thread that dies mid-batch
 * leaves committed frames, then one stamped record that the consumer skips whole (I5). A committed
 * record's UNITS may so be larger than its own size; nothing reads it (sizes come from STATE).
 *
 * Why a skipped reservation can never be a slow producer
 *  The dead mark -(tid + 2) is stored only by the exit listener, which runs on the Worker's 'exit'
 *  event: Node emits it after the thread has stopped and been joined, so thread tid executes nothing
 *  afterwards, and Node never gives a threadId to a second thread in the life of a process. A producer
 *  that is merely slow is alive, so no slot says it is dead, and the consumer waits for it however long
 *  it takes. No timeout is involved anywhere (unlike Aeron, whose driver pads over a frame left
 *  uncommitted for publicationUnblockTimeout, and can so overwrite a publisher that was only
 *  descheduled). The join also orders every write the dead thread made (UNITS, its partial frame)
 *  before the listener's Atomics.store of the mark, which the consumer reads with Atomics.load.
 *  The one gap is between the reserving CAS and the stamp: a thread gone there leaves STATE = 0 with
 *  no owner named. The stamp is the next statement after the CAS, two plain stores with no call,
 *  loop or allocation in between, and V8 acts on a termination request (worker.terminate(), a
 *  resource limit) only at interrupt checks: function entries, loop back-edges and, as measured on
 *  Node 24, the entry of an Atomics builtin — never between a builtin's return and the plain stores
 *  after it. process.exit() and exceptions come from code that does not run there. If a thread still
 *  died in that gap the consumer would wait at that record forever: a stall, never a skip, never a
 *  misread. test/termination.test.ts terminates a thread at random points of tight send/receive
 *  loops and looks for such a record: it found them when the stamp went through a helper method (a
 *  function entry), and finds none with the stamp inline.
 *
 * Why each access is Atomics or plain
 *  - TAIL has many writers: CAS to reserve, Atomics.or to close (so that no reservation succeeds after
 *    close() returns). A producer's first read is plain, as the guess its CAS validates.
 *  - HEAD is stored with Atomics by its one writer, ordering the zeroing before it (a producer that
 *    sees the new HEAD sees zeroed memory). Producers read it plainly for the room check: a stale HEAD
 *    is smaller, so it can only make them think there is less room; they confirm with Atomics.load
 *    before refusing.
 *  - READ is stored before zeroing, so that when the consumer dies mid-free the exit listener finishes
 *    the free (zero [HEAD, READ), store HEAD = READ) instead of leaving zeroed, unreleased bytes.
 *  - The stamp is plain (see above). Frame bytes are plain: written before the commit store, read after
 *    the commit load (drain() loads every STATE of its batch, then copies the batch's span at once).
 *    Zeroing is plain, before the HEAD store, as Float64 +0 (all bits zero) per unit: on shared memory
 *    V8 fills byte by byte with relaxed atomics, so 8-byte stores are ~7× faster. Copies out of the
 *    ring use Buffer's memcpy for the same reason; which width the plain accesses have does not
 *    matter, the commit store/load and the HEAD store/load order them.
 *  - CONSUMER_PARKED/DATA_SEQ and WAITING_SENDERS/ROOM_SEQ are Dekker pairs, all sequentially
 *    consistent: the consumer stores PARKED = 1 and then re-reads STATE; a producer stores STATE and
 *    then reads PARKED. Either the consumer's re-read sees the frame or the producer sees PARKED and
 *    bumps DATA_SEQ, which the consumer's Atomics.waitAsync on the value read before was waiting on.
 *    Senders: add to WAITING_SENDERS, read ROOM_SEQ, retry; the consumer stores HEAD, then reads
 *    WAITING_SENDERS. No wake-up is lost; nobody is notified when nobody waits.
 *  - Slot statistics have one writer (the owner) and are plain, as in @beamline/semaphore: Int32 never
 *    tears; Float64 stores are single aligned 8-byte moves on x64 and arm64. Other threads read them
 *    for stats(), and after the owner's death (ordered by the join) to fold them into RETIRED_*.
 *  - CAPACITY_UNITS and MAX_THREADS are written before the buffer is shared and never again.
 *
 * Wrap of positions: they are counted modulo 2^31 units (16 GiB). A producer that read TAIL and then
 * was descheduled, before its CAS, for exactly a multiple of 16 GiB of traffic and found TAIL at the
 * same value would reserve against a HEAD read 16 GiB earlier; nothing else depends on the wrap.
 */

/** Bumped whenever the byte layout changes, so that attach() refuses a handle from another version. */
export const LAYOUT_VERSION = 1
export const HANDLE_KIND = 'beamline.channel'

export const HEADER_BYTES = 256
export const SLOT_BYTES = 64
export const UNIT_BYTES = 8
/** Largest capacity: 2^30 bytes, so that positions (2^31 units) cover it 16 times. */
export const MAX_CAPACITY_BYTES = 2 ** 30
export const MIN_CAPACITY_BYTES = 64

// Header, Int32 indices.
export const CAPACITY_UNITS = 0
export const MAX_THREADS = 1
export const CONSUMER = 2
export const RECLAIM_BEGIN = 3
export const RECLAIM_END = 4
export const DEAD_SLOTS = 5
export const TAIL = 16
export const WAITING_SENDERS = 17
export const ROOM_SEQ = 18
export const HEAD = 32
export const READ = 33
export const CONSUMER_PARKED = 34
export const DATA_SEQ = 35
// Header, Float64 indices.
export const FRAMES_RECEIVED = 18
export const BYTES_RECEIVED = 19
export const ABANDONED = 20
// Header, BigInt64 indices.
export const RETIRED_SENT_FRAMES = 24
export const RETIRED_SENT_BYTES = 25
export const RETIRED_REFUSED_FRAMES = 26
export const RETIRED_REFUSED_BYTES = 27
export const RETIRED_TIMED_OUT = 28

// Slot fields: Int32 offsets from the slot's Int32 index …
export const OWNER = 0
export const DEAD_TAIL = 1
export const WAITERS = 2
// … and Float64 offsets from its Float64 index.
export const SENT_FRAMES = 2
export const SENT_BYTES = 3
export const REFUSED_FRAMES = 4
export const REFUSED_BYTES = 5
export const TIMED_OUT = 6

/** OWNER (of a slot) and CONSUMER while an exit listener reclaims them. */
export const RECLAIMING = -1

// Record header, Int32 offsets from the record's Int32 index.
export const STATE = 0
export const UNITS = 1

export const CLOSED_BIT = 1 << 31
export const POS_MASK = 0x7fffffff

/** Bytes before the data region. */
export function dataOffset(maxThreads: number): number {
  return HEADER_BYTES + maxThreads * SLOT_BYTES
}

/** Int32 index of slot `i`; its Float64 index is half of it. */
export function slotIndex(i: number): number {
  return (HEADER_BYTES + i * SLOT_BYTES) >> 2
}

/** Units a frame of `length` bytes takes in the ring, its 8-byte header included. */
export function recordUnits(length: number): number {
  return 1 + ((length + UNIT_BYTES - 1) >>> 3)
}
