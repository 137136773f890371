/*
 * Shared memory of one PressureMonitor: what the sampling thread publishes and every attached thread
 * reads. One SharedArrayBuffer, viewed as Int32Array (header) and Float64Array (values).
 *
 *   byte  field            type     written by                        access
 *    0    LEVEL            Int32    sampling thread, once per change   Atomics.store / Atomics.load
 *    4    SEQ              Int32    sampling thread, around each       core's seqlock helper:
 *                                   publication (odd while writing)    seqWriteBegin / End, seqReadBegin / Valid
 *    8    THROTTLE_MASK    Int32    sampling thread; bit i = signal i  Atomics.store / load, inside SEQ
 *                                   holds level ≥ 1
 *   12    SHED_MASK        Int32    sampling thread; bit i = level 2   Atomics.store / load, inside SEQ
 *   16    CONFIGURED_MASK  Int32    constructor, before the handle     plain (constant afterwards)
 *                                   exists; bit i = signal i sampled
 *   20    STOPPED          Int32    stop(): 1                          Atomics.store / load
 *   24    SCORE            Float64  sampling thread                    plain, inside SEQ
 *   32    SAMPLED_AT       Float64  sampling thread: Date.now()        plain, inside SEQ
 *   40+24i VALUE(i)        Float64  sampling thread: latest value      plain, inside SEQ
 *   48+24i THROTTLE(i)     Float64  constructor, before the handle     plain (constant afterwards)
 *   56+24i SHED(i)         Float64  constructor, before the handle     plain (constant afterwards)
 *   for i = index of the signal in SIGNALS (./signals.ts), 0..5
 *
 * Invariants
 *  - LEVEL = 2 if SHED_MASK ≠ 0, else 1 if THROTTLE_MASK ≠ 0, else 0, once a publication completes;
 *    SHED_MASK ⊆ THROTTLE_MASK ⊆ CONFIGURED_MASK.
 *  - One writer: only the thread that constructed the monitor samples and publishes.
 *
 * Why each access is what it is
 *  - LEVEL is what the hot path reads (`level`, `admit()`), so it is its own Int32 and one
 *    Atomics.load: no retry loop, never torn, and it is published last, after the masks and values it
 *    summarises.
 *  - The snapshot read by `reasons`, `score` and `signals()` spans several fields, so it is a seqlock,
 *    @beamline/core's (packages/core/src/seqlock.ts, which gives the memory-ordering argument for x64
 *    and arm64): the writer makes SEQ odd, writes, makes SEQ even; a reader loads SEQ, reads, and
 *    retries if SEQ was odd or its closing load (ordered after the plain reads) differs. The Float64
 *    fields are plain accesses: a racing read may see a torn or mixed value, which the validation
 *    rejects. The masks use Atomics only because Int32 Atomics cost nothing extra here.
 *  - `admit()` reads SCORE once, plainly and outside the seqlock: a score one publication stale only
 *    moves a refusal probability, and aligned 8-byte loads do not tear on x64 and arm64.
 *  - Constants (CONFIGURED_MASK, THROTTLE, SHED) are written before the handle is shared; sending it
 *    through postMessage / workerData orders those writes before any read in the receiving thread.
 */
import { SIGNALS } from './signals.js'

/** Bumped whenever the byte layout changes, so that attach() refuses a handle from another version. */
export const LAYOUT_VERSION = 1
export const HANDLE_KIND = 'beamline.pressure'

// Int32 indices.
export const LEVEL = 0
export const SEQ = 1
export const THROTTLE_MASK = 2
export const SHED_MASK = 3
export const CONFIGURED_MASK = 4
export const STOPPED = 5
// Float64 indices.
export const SCORE = 3
export const SAMPLED_AT = 4
const FIRST_SIGNAL = 5
const SIGNAL_STRIDE = 3

export const BUFFER_BYTES = (FIRST_SIGNAL + SIGNAL_STRIDE * SIGNALS.length) * 8

/** Float64 index of signal `i`'s latest value. */
export function valueIndex(i: number): number {
  return FIRST_SIGNAL + SIGNAL_STRIDE * i
}
/** Float64 index of signal `i`'s throttle threshold; the shed threshold follows it. */
export function throttleIndex(i: number): number {
  return FIRST_SIGNAL + SIGNAL_STRIDE * i + 1
}
export function shedIndex(i: number): number {
  return FIRST_SIGNAL + SIGNAL_STRIDE * i + 2
}
