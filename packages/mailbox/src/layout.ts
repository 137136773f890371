/*
 * Shared memory of one MailboxRegistry: a single SharedArrayBuffer that every attached thread maps.
 * C = capacity (named slots), G = maxGroups, A = G aggregate slots, N = nameBytes (a multiple of 8),
 * R = READERS (64).
 *
 *   region            bytes                      what
 *   header            0 .. 64                    constants, allocation cursors, scan epoch
 *   slots             64 + 64·i, i < C + A       one cache line per mailbox, observed queue or aggregate
 *   slot meta         META + 16·i, i < C + A     generation, name length, owner of slot i
 *   slot names        NAMES + N·i, i < C         UTF-8 name of named slot i (truncated to N bytes)
 *   groups            GROUPS + 192·g             per-group folded totals, fold lock, shared group-only words
 *   group names       GROUP_NAMES + 200·g        UTF-8 group name
 *   readers           READER_WORDS + 8·r         one word pair per scan in progress
 *
 *   header (Int32 index unless said)    written by                                 access
 *    0  CAPACITY        C               constructor                                plain, before the handle exists
 *    1  MAX_GROUPS      G               constructor                                plain, before the handle exists
 *    2  NAME_BYTES      N               constructor                                plain, before the handle exists
 *    3  HIGH_WATER      named slots ever handed out from the fresh end (may overshoot C; readers clamp)
 *                                       any thread claiming                        Atomics.add
 *    4  GROUP_LOCK      0 free, else threadId + 1 of the holder: serialises group creation
 *                                       creator (CAS / Atomics.store); reclaim frees a dead holder's
 *    5  SCAN_EPOCH      scans begun, mod 2^32 (never 0 in a reader word)   scanners, Atomics.add
 *    6  SCANNERS        reader words with a scan in progress (over-counts by one for a scanner that
 *                       died between its increment and R_SINCE, or between R_SINCE = 0 and its
 *                       decrement: harmless, claimers then check every word)  scanners, Atomics.add / sub
 *    7  UNLISTED_SCANS  scans in progress that found every reader word taken   scanners, Atomics.add / sub
 *    8  GROUP_COUNT     groups published (ids 0 .. GROUP_COUNT-1)          Atomics.store under GROUP_LOCK
 *    9  LIVE            named slots claimed and not yet folded: lets a full registry refuse without
 *                       scanning. A hint that may only under-count (after a thread died between a
 *                       claim and its count, or a fold was redone), never over-count.   Atomics.add / sub
 *   10  AGG_HIGH_WATER  aggregate slots ever handed out from the fresh end (clamped to A)   Atomics.add
 *   48  UNNAMED_TOTAL  BigInt64 (BigInt64 index 6): registrations that found no named slot, ever
 *                                       the registering thread                     Atomics.add
 *
 *   slot i (Int32 index 16 + 16·i; Float64 index 8 + 8·i)
 *   +0  STATE     Int32   FREE 0; −(threadId + 1) while that thread claims it; MAILBOX 1, OBSERVED 2,
 *                         AGGREGATE 3 while live; RELEASED 4 once let go but its fold deferred (below);
 *                         FOLDING 5, RETIRING 6 while folded; once folded RETIRED 8 + the occupancy's
 *                         GEN (26 bits: see retiredState)
 *                                                   claimer, folder: CAS, Atomics.store
 *   +4  GROUP     Int32   group id                   claimer, before STATE is published
 *   +8  LENGTH    Int32   observed queue: last sample. A mailbox derives its length from its counters
 *                         (ENQUEUED − DEQUEUED − OVERFLOW − EXPIRED, see queuedOf) and leaves this 0.
 *                         Aggregate: AGG_NONEMPTY, its non-empty registrations. Folded: STAMP.
 *                                                   owner, plain; folder, Atomics.store
 *  +12  PEAK      Int32   highest length. Aggregate: AGG_MAILBOXES, its live registrations.
 *                         Folded: RETIRE_EPOCH.     owner, plain; folder, Atomics.store
 *  +16  ENQUEUED  Float64 items accepted                               owner, plain
 *  +24  DEQUEUED  Float64 items handed to consumers                    owner, plain
 *  +32  REJECTED  Float64 pushes refused ('reject' when full)          owner, plain
 *  +40  OVERFLOW  Float64 accepted items evicted ('drop-oldest')       owner, plain
 *  +48  EXPIRED   Float64 accepted items dropped for age (maxAgeMs or overload)   owner, plain
 *  +56  HEAD_TS   Float64 enqueue time of the oldest item, ms since the epoch (timeOrigin + now); stale
 *                         while the mailbox is empty (readers check the length), 0 in an observed slot.
 *                         Aggregate: AGG_OBSERVED, the sum of its observed queues' samples.
 *                                                                      owner, plain
 *
 *   slot meta i (Int32 index META/4 + 4·i)
 *   +0  GEN        bumped at every claim, before the name is written   claimer, Atomics.add
 *   +1  NAME_LEN   full UTF-8 length of the name (may exceed N)        claimer, plain (published by STATE)
 *   +2  STORED_LEN bytes actually stored (≤ N, whole characters)       claimer, plain (published by STATE)
 *   +3  OWNER      threadId + 1 of the owning thread                   claimer, plain (published by STATE)
 *
 *   group g (Int32 index GROUPS/4 + 48·g; BigInt64 index GROUPS/8 + 24·g)
 *   +0  G_NAME_LEN   Int32  UTF-8 length of the group name            creator under GROUP_LOCK
 *   +4  U_QUEUED     Int32  \  gauges of group-only registrations that found no aggregate slot either
 *   +8  U_NONEMPTY   Int32   > (UNSLOTTED, below)                     their owners, Atomics.add
 *  +12  U_MAILBOXES  Int32  /
 *  +16  FOLD_OWNER   Int32  0 free, else threadId + 1 of the thread folding a slot of this group
 *                                                   folder: CAS / Atomics.store; reclaim takes a dead holder's
 *  +20  FOLD_SLOT    Int32  slot being folded        fold lock holder, Atomics.store
 *  +24  FOLD_FOR     Int32  that slot's OWNER        fold lock holder, Atomics.store
 *  +28  STARTED      Int32  folds begun, mod 2^32: PUBLISHED or PUBLISHED + 1   holder, Atomics.store
 *  +32  PUBLISHED    Int32  folds completed, mod 2^32 (the group's version)      holder, Atomics.store
 *  +40  TOTALS[2]    (Int32 low, Int32 high) ×6 ×2  folded totals (ENQUEUED, DEQUEUED, REJECTED,
 *                           OVERFLOW, EXPIRED, ABANDONED) of the group's folded slots, each a 64-bit
 *                           count as two words (see readTotal), double-buffered: version v is in
 *                           buffer v & 1                                  holder, Atomics.store
 * +136  UNSLOTTED  BigInt64 ×6  the same counters of group-only registrations without an aggregate
 *                           slot (never folded: added to directly)       their owners, Atomics.add
 *
 *   reader word r (Int32 index READER_WORDS/4 + 2·r)
 *   +0  R_OWNER   0 free, else threadId + 1 of the scanning thread; −1 while reclaimed
 *                                                   scanner CAS / Atomics.store; reclaim CAS
 *   +1  R_SINCE   the SCAN_EPOCH this scan drew, 0 before it drew one      scanner, Atomics.store
 *
 * Folding. A slot stops being live (a mailbox closed and drained, an observation closed, a thread's
 * last group-only registration of a group gone, or its owning thread dead) by being folded: its
 * counters are added to its group's TOTALS, with ABANDONED = the items still queued in it (0 unless
 * its thread died: see queuedOf). The folder holds the group's FOLD_OWNER lock and, with p = PUBLISHED:
 *   1. stores FOLD_SLOT, FOLD_FOR, then STARTED = p + 1;
 *   2. writes buffer (p + 1) & 1 = buffer p & 1 + the slot's counters (every word, Atomics);
 *   3. STATE = FOLDING: the slot's gauge fields are about to be overwritten (readers of a live slot's
 *      gauges re-check STATE after reading them, with Atomics loads, and drop them if it changed);
 *   4. STAMP = p + 1, LIVE −1, then STATE = RETIRING: the slot keeps its counters;
 *   5. PUBLISHED = p + 1;
 *   6. RETIRE_EPOCH = SCAN_EPOCH (loaded now), then STATE = RETIRED (tagged); frees the lock.
 * A fold that finds the lock taken is deferred (./fold.ts): the slot is first CASed from its live state
 * to RELEASED, so that scans count its counters (and its queued items as ABANDONED, like a FOLDING
 * slot) but no longer its gauges nor the slot as live, while it waits for the lock. Without it, a
 * closed mailbox stayed in `mailboxes` until a timer retried the fold, which a thread busy in
 * synchronous code may not run for a long time.
 * Every step is a function of buffer p & 1 and the slot's counters, which nobody changes any more, so a
 * fold whose thread died midway is redone from step 1 (or finished from step 5 if STATE is RETIRING
 * and the stamp is p + 1) by whoever reclaims that thread and takes over the lock; buffer p & 1, the
 * one readers of version p read, is never written by fold p + 1.
 *
 * A scan (stats, top, snapshot) by one reader
 *   a. takes a free reader word (CAS R_OWNER), SCANNERS +1, R_SINCE = SCAN_EPOCH + 1 (Atomics.add);
 *      with every word taken it counts itself in UNLISTED_SCANS instead;
 *   b. reads, for each published group g, v_g = PUBLISHED and buffer v_g & 1, and keeps them iff
 *      STARTED − v_g < 2 afterwards (no fold v_g + 2 began overwriting that buffer), else retries g;
 *   c. scans the slots: MAILBOX, OBSERVED and AGGREGATE slots are counted from the slot (gauges and
 *      counters); a RELEASED or FOLDING slot, or a RETIRING or RETIRED slot whose STAMP is newer than v_g, is
 *      counted from the slot (counters only: it is not live); a RETIRING or RETIRED slot whose STAMP
 *      ≤ v_g is skipped: it is in the totals read;
 *   d. frees its word (R_SINCE 0, SCANNERS −1, R_OWNER 0).
 * A RETIRED slot becomes claimable again only when no scan that could still need it is running: a
 * claimer loads STATE (RETIRED, tagged), RETIRE_EPOCH e, then requires UNLISTED_SCANS = 0 and, unless
 * SCANNERS = 0, that every taken reader word has R_SINCE 0 or R_SINCE > e (wrap-aware). It then CASes
 * the tagged state it loaded → −(its id): the tag (the occupancy's GEN) makes the CAS fail if the slot
 * was claimed and folded again in between, a newer fold the check did not cover. A scan frees (CAS
 * tagged RETIRED → FREE) a RETIRED slot whose e is older than its own R_SINCE and every other taken
 * word's, by the same argument: later scans then pass it as FREE, with one plain load.
 *
 * Invariant (exactly once, monotonic): in every scan each slot occupancy ever folded is counted exactly
 * once, either in the totals read in (b) or from its slot in (c); so per reader, every total and
 * group counter (enqueued, dequeued, rejected, dropped.*) never decreases. Argument, all the accesses
 * involved being Atomics (one sequentially consistent order):
 *  - Counted at most once: if fold n of group g is in the totals read (v_g ≥ n), its step 4 (STATE =
 *    RETIRING) precedes step 5, which precedes the scan's load of PUBLISHED, which precedes its load of
 *    STATE in (c): the scan sees RETIRING/RETIRED with STAMP n ≤ v_g and skips it, or the slot already
 *    re-claimed by a new occupancy (and counts that one, which is not in the totals). A scan that sees
 *    RELEASED or FOLDING loaded STATE before step 4, so before step 5: that fold is not in its totals.
 *  - Counted at least once: if fold n is not in the totals read (v_g < n), the slot still holds that
 *    occupancy when (c) reaches it: live, RELEASED or FOLDING (counted), or folded with STAMP n > v_g (counted).
 *    It cannot have been re-claimed: its RETIRE_EPOCH e is loaded after step 5, itself after the
 *    scan's load of PUBLISHED in (b), after its R_SINCE = s in (a), so e ≥ s and a claimer that sees
 *    the word is blocked; a claimer that does not see it (R_OWNER or R_SINCE not yet stored, or
 *    SCANNERS still 0) reads before the scan's store, hence before its (b), contradicting v_g < n. A scan whose word a
 *    claimer sees with R_SINCE > e drew it after e was loaded, so after step 5: its v_g ≥ n.
 *  - Monotonic: a later scan's v_g is ≥ an earlier one's, so an occupancy in the earlier totals is in
 *    the later ones; one counted from its slot earlier is counted later from its slot (counters only
 *    grow: one writer, and each CPU reads one location coherently) or from the totals, which hold its
 *    final counters. Group-only counters in UNSLOTTED are single Atomics.add words.
 *  - A scan of group g retries in (b) only if two folds of g completed during its ~8 loads; a fold
 *    takes longer than that (a lock and some 40 Atomics), so it retries only when its own
 *    thread was descheduled in that window: no spinning on a writer, no bound needed on attempts.
 *  - Plain loads in a scan. Its per-slot load of STATE is plain (an Atomics.load costs ~7 ns in V8,
 *    as much as the rest of a slot's work); everything not MAILBOX or FREE is loaded again with
 *    Atomics before anything is decided on it. Plain MAILBOX: if that occupancy's fold is in the
 *    totals read, the scan's load of PUBLISHED read from that fold's store (or a later fold's, each
 *    taking the lock it released), which happens-before the plain load in the ECMAScript model, so it
 *    cannot see MAILBOX; otherwise counting it is right. Plain FREE read when the slot holds an
 *    occupancy: per-location coherence means this reader never saw it before, so skipping it now
 *    only delays its first appearance. What the model does not order is a re-claim racing the read:
 *    the new occupancy's STATE with the previous one's counters, if the CPU performs the counter
 *    loads before the STATE load. x64 never does (loads are not reordered with loads); arm64 may,
 *    within nanoseconds of a re-claim, as with the per-slot counters' plain stores everywhere here.
 *  - Death: a scanner that dies keeps its reader word, blocking the reuse of slots folded after it
 *    began, until its thread is reclaimed (onWorkerExit / watch): reclaim frees the word (SCANNERS −1
 *    if R_SINCE ≠ 0). A folder that dies holding FOLD_OWNER is finished by the reclaim (see Folding);
 *    meanwhile other folds of that group are deferred, never waited for, and readers read version p.
 *    A claimer that dies leaves STATE = −(its id): reclaim frees the slot. An owner that dies leaves
 *    live or RELEASED slots with OWNER = its id (its deferred folds died with it): reclaim folds
 *    them, their queued items counted as ABANDONED.
 *
 * Names. A name read from another thread is valid iff STATE and GEN are unchanged before and after
 * the bytes are read, a seqlock whose writer is the claimer (ordering argument: @beamline/core's
 * seqlock.ts). The reader loads GEN and STATE, the bytes (plain), then STATE with core's
 * loadAfterReads (ordered after the bytes) and GEN last. Writers keep two rules: a slot leaves a
 * live STATE by an Atomics write before it can be claimed again (so bytes of a later claim are
 * only visible to a reader whose closing STATE load no longer sees the old live value), and a
 * claim bumps GEN before it publishes STATE with an Atomics.store (so a closing STATE load that
 * sees the new live value is followed by a GEN load that sees the new generation).
 *
 * Why plain accesses are enough where they are used
 *  - LENGTH, PEAK and the Float64 counters of a live slot have exactly one writer, the owning thread,
 *    so a plain store never loses an update; the owner keeps its own copies and only stores (an
 *    aggregate's owner reads back what it stored itself, which a thread always sees). Other threads read them for stats(): a value one operation stale is as good as a
 *    fresh one for monitoring, and once the owner is quiescent its last stores are visible to the next
 *    Atomics operation any reader performs (a scan starts with Atomics). Int32 plain accesses never
 *    tear (ECMAScript NoTear); Float64 ones may by the letter of the spec, but V8 emits one aligned
 *    8-byte move on x64 and arm64, which those ISAs perform atomically. 64-bit counters are needed
 *    because a busy mailbox passes 2^31 items within hours; Float64 counts exactly to 2^53. Atomics on
 *    these fields would cost a locked instruction per push and BigInt boxing for 64 bits; plain stores
 *    cost ~1 ns. When a slot is folded, its counters are final: the owner stopped writing them (it
 *    detached, or its thread is gone: Node's thread join orders its writes before the 'exit' event).
 *  - A mailbox stores no length: a push stores ENQUEUED, a shift DEQUEUED, and readers derive the
 *    length, so it is exact by construction whenever the owner is quiescent (the accounting identity
 *    cannot be broken by a missed store) and the hot path saves a store per operation. Readers load
 *    ENQUEUED first: the other counters only grow, so a read racing the owner can only under-count
 *    the length at that first load (clamped at 0), never report items that were not there.
 *  - HEAD_TS is stored only when it changes (items pushed in one burst share a coarse timestamp), and
 *    before the counter of the same operation, so a reader that sees a push counted sees its time
 *    (on x64's TSO; elsewhere the age may lag by one operation, like every other field).
 *  - Each slot is one 64-byte cache line (the buffer is page aligned and the header is 64 bytes), so
 *    owners in different threads never write the same line: no false sharing on the hot path. An
 *    aggregate slot is the same for a thread's group-only mailboxes of one group: plain stores, one
 *    writer, so the degraded path is not slower than the named one.
 *  - Everything with several writers is Atomics (sequentially consistent): STATE, GEN, the header
 *    counters, the group words, reader words. STATE, STAMP and RETIRE_EPOCH are loaded with Atomics by
 *    scans and claimers, because the argument above rests on their order. None of it is on the hot
 *    path of a mailbox: folds happen at close, claims at creation, scans a few times a second.
 *  - Unbounded counts are 64-bit: slot counters Float64 (exact to 2^53), TOTALS two Int32 words
 *    (one writer, the lock holder, so no 64-bit atomic add is needed, and no BigInt is allocated per
 *    fold or scan), UNSLOTTED and UNNAMED_TOTAL BigInt64 (several writers: Atomics.add). The Int32
 *    sequences (SCAN_EPOCH, STARTED, PUBLISHED, STAMP) wrap and are only ever compared by wrap-aware
 *    differences ((a − b) | 0), valid while a scan lasts fewer than 2^31 folds of one group or scans.
 */

/** Bumped whenever the byte layout changes, so that attach() refuses a handle from another version. */
export const LAYOUT_VERSION = 4
export const HANDLE_KIND = 'beamline.mailbox-registry'

export const HEADER_BYTES = 64
export const SLOT_BYTES = 64
export const META_BYTES = 16
export const GROUP_BYTES = 192
/** Group names are validated like mailbox names: at most 200 UTF-8 bytes, always stored whole. */
export const GROUP_NAME_BYTES = 200
/** Scans that can be in progress at once with a reader word of their own (more are still exact). */
export const READERS = 64
const READER_BYTES = 8

// Header, Int32 indices.
export const CAPACITY = 0
export const MAX_GROUPS = 1
export const NAME_BYTES = 2
export const HIGH_WATER = 3
export const GROUP_LOCK = 4
export const SCAN_EPOCH = 5
export const SCANNERS = 6
export const UNLISTED_SCANS = 7
export const GROUP_COUNT = 8
export const LIVE = 9
export const AGG_HIGH_WATER = 10
// Header, BigInt64 index.
export const UNNAMED_TOTAL = 6

// Slot STATE values (a slot being claimed holds −(threadId + 1) of its claimer).
export const FREE = 0
export const MAILBOX = 1
export const OBSERVED = 2
export const AGGREGATE = 3
/** Let go by its owner (or its dead owner's reclaimer), its fold deferred: counters only, not live. */
export const RELEASED = 4
export const FOLDING = 5
export const RETIRING = 6
/** RETIRED and above: RETIRED + the folded occupancy's GEN (RETIRED_TAG bits), see retiredState. */
export const RETIRED = 8
const RETIRED_TAG = (1 << 26) - 1

/**
 * STATE of a folded slot whose occupancy had `gen` (its GEN): tagged, so that a CAS expecting it fails
 * if the slot was claimed and folded again since it was loaded (no ABA).
 */
export function retiredState(gen: number): number {
  return RETIRED + (gen & RETIRED_TAG)
}

// Slot fields, Int32 offsets from the slot's Int32 index.
export const STATE = 0
export const GROUP = 1
export const LENGTH = 2
export const PEAK = 3
/** A folded slot's group version (its fold number). */
export const STAMP = LENGTH
/** SCAN_EPOCH loaded when a folded slot's fold was published. */
export const RETIRE_EPOCH = PEAK
/** An aggregate's registrations with at least one item. */
export const AGG_NONEMPTY = LENGTH
/** An aggregate's live registrations. */
export const AGG_MAILBOXES = PEAK
// Slot fields, Float64 offsets from the slot's Float64 index.
export const ENQUEUED = 2
export const DEQUEUED = 3
export const REJECTED = 4
export const OVERFLOW = 5
export const EXPIRED = 6
export const HEAD_TS = 7
/** An aggregate's sum of observed samples. */
export const AGG_OBSERVED = HEAD_TS

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
export const FOLD_OWNER = 4
export const FOLD_SLOT = 5
export const FOLD_FOR = 6
export const STARTED = 7
export const PUBLISHED = 8
/** Int32 offset of buffer 0 of TOTALS; counter k of buffer b is at TOTALS + b·2·COUNTERS + 2k. */
export const TOTALS = 10
/** BigInt64 offset. */
export const UNSLOTTED = 17
/**
 * Counters kept per group, in this order in TOTALS and UNSLOTTED: the slot's ENQUEUED … EXPIRED
 * (counter k is slot field ENQUEUED + k), then ABANDONED, which a slot derives (queuedOf) when folded.
 */
export const COUNTERS = 6
export const ABANDONED = 5

// Reader word, Int32 offsets.
export const R_OWNER = 0
export const R_SINCE = 1

/** Byte offsets of each region for a registry of `capacity` slots, `maxGroups` groups and `nameBytes`. */
export interface Regions {
  meta: number
  names: number
  groups: number
  groupNames: number
  readers: number
  total: number
}

export function regions(capacity: number, maxGroups: number, nameBytes: number): Regions {
  const slots = capacity + maxGroups
  const meta = HEADER_BYTES + slots * SLOT_BYTES
  const names = meta + slots * META_BYTES
  const groups = names + capacity * nameBytes
  const groupNames = groups + maxGroups * GROUP_BYTES
  const readers = Math.ceil((groupNames + maxGroups * GROUP_NAME_BYTES) / 8) * 8
  const total = readers + READERS * READER_BYTES
  return { meta, names, groups, groupNames, readers, total }
}

/** Shared bytes one named slot costs, whatever it holds. */
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

/**
 * A TOTALS count, from its two Int32 words at `at` (low, high): exact below 2^53, beyond which a
 * Number is not exact anyway. Atomics loads: the caller validates the pair under the group's seqlock.
 */
export function readTotal(i32: Int32Array, at: number): number {
  return Atomics.load(i32, at + 1) * 2 ** 32 + (Atomics.load(i32, at) >>> 0)
}

/** Stores `value` (an integer below 2^53) as the two words of a TOTALS count. */
export function writeTotal(i32: Int32Array, at: number, value: number): void {
  Atomics.store(i32, at, value | 0)
  Atomics.store(i32, at + 1, Math.floor(value / 2 ** 32))
}

/** Int32 index of slot `i` (named slots 0 .. C−1, aggregates C .. C+A−1); its Float64 index is half of it. */
export function slotIndex(i: number): number {
  return (HEADER_BYTES + i * SLOT_BYTES) >> 2
}
