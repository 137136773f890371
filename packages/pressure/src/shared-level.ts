/*
 * What one PressureMonitor publishes in shared memory (layout, writers, and why each access is
 * Atomics or plain: ./layout.ts): the sampling thread writes the per-signal values, reason bit masks
 * and the score under the seqlock SEQ, then stores LEVEL; any thread reads a consistent snapshot of
 * them, and the configured thresholds, which are constant once the handle exists. The hot path
 * (`level`, `admit()`) reads LEVEL and SCORE directly and does not go through here.
 */
import { performance } from 'node:perf_hooks'
import { seqReadBegin, seqReadValid, seqWriteBegin, seqWriteEnd } from '@beamline/core'
import {
  CONFIGURED_MASK,
  LEVEL,
  SAMPLED_AT,
  SCORE,
  SEQ,
  SHED_MASK,
  shedIndex,
  THROTTLE_MASK,
  throttleIndex,
  valueIndex,
} from './layout.js'
import { type PressureReason, SIGNALS, type Threshold, type Thresholds } from './signals.js'

export type PressureLevel = 0 | 1 | 2

/** One consistent reading of what the sampling thread published last. */
export interface Snapshot {
  throttleMask: number
  shedMask: number
  score: number
  sampledAt: number
  values: number[]
}

export class SharedLevel {
  readonly i32: Int32Array
  readonly f64: Float64Array
  /** By index in SIGNALS: whether the signal has thresholds (is sampled). */
  readonly configured: readonly boolean[]

  /**
   * Views of `buffer`; `thresholds` (by signal index) are written into it first when given, by the
   * owner before the handle exists, and read back from it otherwise.
   */
  constructor(buffer: SharedArrayBuffer, thresholds?: ReadonlyMap<number, Threshold>) {
    this.i32 = new Int32Array(buffer)
    this.f64 = new Float64Array(buffer)
    if (thresholds !== undefined) {
      let mask = 0
      for (const [i, [throttle, shed]] of thresholds) {
        mask |= 1 << i
        this.f64[throttleIndex(i)] = throttle
        this.f64[shedIndex(i)] = shed
      }
      this.i32[CONFIGURED_MASK] = mask
    }
    const mask = this.i32[CONFIGURED_MASK]!
    this.configured = SIGNALS.map((_, i) => (mask & (1 << i)) !== 0)
  }

  /** The configured `[throttle, shed]` pairs, by signal name. */
  thresholds(): Thresholds {
    const out: Record<string, Threshold> = {}
    for (const [i, name] of SIGNALS.entries()) {
      if (this.configured[i]) out[name] = [this.f64[throttleIndex(i)]!, this.f64[shedIndex(i)]!]
    }
    return out
  }

  /** The sampling thread's publication: the snapshot's fields under SEQ, then LEVEL. */
  publish(
    throttleMask: number,
    shedMask: number,
    score: number,
    values: Float64Array,
    level: PressureLevel,
  ): void {
    const i32 = this.i32
    const f64 = this.f64
    seqWriteBegin(i32, SEQ)
    Atomics.store(i32, THROTTLE_MASK, throttleMask)
    Atomics.store(i32, SHED_MASK, shedMask)
    f64[SCORE] = score
    f64[SAMPLED_AT] = Date.now()
    for (let i = 0; i < SIGNALS.length; i++) f64[valueIndex(i)] = values[i]!
    seqWriteEnd(i32, SEQ)
    Atomics.store(i32, LEVEL, level)
  }

  snapshot(): Snapshot {
    const i32 = this.i32
    const f64 = this.f64
    // A publication takes microseconds, but the OS may preempt the writer in the middle of one, so
    // readers spin for as long as it takes. Only a writer terminated mid-publication could leave SEQ
    // odd for good; after a second of that a possibly mixed snapshot beats a hang.
    let deadline = 0
    for (let attempt = 1; ; attempt++) {
      const seq = seqReadBegin(i32, SEQ)
      const stuck = (attempt & 1023) === 0 && performance.now() > (deadline ||= performance.now() + 1_000)
      if ((seq & 1) === 0 || stuck) {
        const snap: Snapshot = {
          throttleMask: Atomics.load(i32, THROTTLE_MASK),
          shedMask: Atomics.load(i32, SHED_MASK),
          score: f64[SCORE]!,
          sampledAt: f64[SAMPLED_AT]!,
          values: SIGNALS.map((_, i) => f64[valueIndex(i)]!),
        }
        if (seqReadValid(i32, SEQ, seq) || stuck) return snap
      }
    }
  }

  /** The signals of `snap` holding the level at 1 or 2, strongest first. */
  reasonsOf(snap: Snapshot): PressureReason[] {
    const reasons: PressureReason[] = []
    for (const [i, signal] of SIGNALS.entries()) {
      if ((snap.throttleMask & (1 << i)) === 0) continue
      const throttle = this.f64[throttleIndex(i)]!
      const shed = this.f64[shedIndex(i)]!
      reasons.push({
        signal,
        value: snap.values[i]!,
        throttle,
        shed,
        level: (snap.shedMask & (1 << i)) !== 0 ? 2 : 1,
      })
    }
    // Strongest first: level, then how far past its throttle threshold the value is.
    const strength = (r: PressureReason) => r.level * 10 + (r.value - r.throttle) / (r.shed - r.throttle)
    return reasons.sort((a, b) => strength(b) - strength(a))
  }
}
