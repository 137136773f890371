/*
 * The seqlock protocol of every beamline structure that lets other threads read several words
 * without a lock (pressure's snapshot, ring's double buffer, the mailbox registry's names). The
 * argument for its memory ordering is written here once; the structures' layout.ts files refer to it.
 *
 * Protocol (Linux seqlock.h, crossbeam's seq_lock.rs). A sequence word in an Int32Array or
 * Uint32Array over a SharedArrayBuffer; one writer at a time (the caller serialises writers).
 *   writer: seqWriteBegin (the word becomes odd), plain stores of the data, seqWriteEnd (even again).
 *   reader: s = seqReadBegin; plain loads of the data; keep them iff seqReadValid(s), else retry.
 *   A structure with its own validation rule (ring: two counters, two buffers; mailbox names: a
 *   generation and a state word) uses the two primitives below directly: storeBeforeWrites where the
 *   writer announces a change, loadAfterReads for the reader's closing load.
 * Data accesses are plain: they cost nothing and a torn read is discarded, never returned (a reader
 * must tolerate garbage until validation: bounds-check any index it reads). Sequence accesses are
 * Atomics (sequentially consistent).
 *
 * What must hold, and why it does
 *  1. Writer: no data store becomes visible before the odd sequence value. storeBeforeWrites is an
 *     Atomics write followed by an Atomics.load of the same word. On x64 the write is `xchg` or a
 *     `lock` instruction, a full barrier. On arm64 it is `stlr` (or `ldaddal` / a `stlxr` loop) and
 *     the load is `ldar`, which cannot be reordered before an earlier release store (RCsc) and keeps
 *     every later access after it: together, the smp_wmb() of write_seqcount_begin. The closing store
 *     needs only release order (earlier stores first), which every Atomics write has.
 *  2. Reader: every data load completes before the closing sequence load (read_seqcount_retry's
 *     smp_rmb(); crossbeam's fence(Acquire) before the final relaxed load). An Atomics.load alone is
 *     not enough on arm64: `ldar` orders LATER accesses only, and an EARLIER plain `ldr` may still be
 *     satisfied after it, so the reader could accept data older than the sequence it validates. There
 *     loadAfterReads first does an Atomics.store to a word private to this thread: `stlr` keeps every
 *     earlier load before it, and the following `ldar` cannot pass the `stlr`. On x64 (TSO: loads are
 *     never reordered with later loads) program order suffices and Atomics.load is a plain `mov`, so
 *     nothing is added; the choice is made once, from process.arch.
 *  3. Compiler: V8 never moves a plain load or store across an Atomics operation (TurboFan and
 *     Turboshaft give atomic loads write effects so that loads are not reordered with them; an Atomics
 *     call that is not inlined is a builtin call, opaque to the optimizer).
 * By the letter of the ECMAScript memory model no seqlock is guaranteed: racy plain accesses are
 * Unordered and create no happens-before, so the model does not promise that validation excludes a
 * torn value. It does promise that a race yields some value instead of undefined behaviour, which is
 * why plain data accesses are allowed at all (in C++ they would have to be relaxed atomics, Boehm,
 * "Can seqlocks get along with programming language memory models?", MSPC 2012). The guarantee rests
 * on 1–3, i.e. on how V8 maps Atomics to x64 and arm64 instructions, and packages/core's seqlock
 * stress test checks it across real threads.
 */

/** Words that can hold a sequence: Atomics on Int32Array or Uint32Array over a SharedArrayBuffer. */
export type SeqWords = Int32Array | Uint32Array

/** x86 never reorders a load with a later load (TSO), so there readers need no fence (point 2). */
const LOADS_IN_ORDER = process.arch === 'x64' || process.arch === 'ia32'
/** Touched only by this thread: target of the reader's release store where loads may be reordered. */
const privateWord = new Int32Array(new SharedArrayBuffer(4))

/** Atomics.load of `words[index]`, ordered after every earlier plain load of this thread (point 2). */
export function loadAfterReads(words: SeqWords, index: number): number {
  if (!LOADS_IN_ORDER) Atomics.store(privateWord, 0, 0)
  return Atomics.load(words, index)
}

/** Atomics.store of `value` into `words[index]`, visible before any later plain store of this thread (point 1). */
export function storeBeforeWrites(words: SeqWords, index: number, value: number): void {
  Atomics.store(words, index, value)
  Atomics.load(words, index)
}

/** Writer: marks a write in progress (the sequence becomes odd); the data stores that follow come after it. */
export function seqWriteBegin(words: SeqWords, index: number): void {
  Atomics.add(words, index, 1)
  Atomics.load(words, index)
}

/** Writer: publishes the data stores made since seqWriteBegin (the sequence becomes even again). */
export function seqWriteEnd(words: SeqWords, index: number): void {
  Atomics.add(words, index, 1)
}

/** Reader: the sequence before reading the data. Odd means a write is in progress: seqReadValid will refuse. */
export function seqReadBegin(words: SeqWords, index: number): number {
  return Atomics.load(words, index)
}

/**
 * Reader: true iff the plain loads made since `seqReadBegin` returned `seq` saw exactly one complete
 * write (no write was in progress when the read began, and none began since).
 */
export function seqReadValid(words: SeqWords, index: number, seq: number): boolean {
  return (seq & 1) === 0 && loadAfterReads(words, index) === seq
}
