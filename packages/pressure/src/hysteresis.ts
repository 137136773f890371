/**
 * Per-signal level with hysteresis, in typed arrays indexed by signal. A signal enters a higher level
 * at the first sample over its threshold; it leaves only after every sample for `coolDownMs` stayed
 * below its current level, and then drops to the highest level seen during that cool-down (so 2 → 1
 * when it hovered over the throttle threshold, 2 → 0 when it fell clear). A signal that oscillates
 * around a threshold therefore holds the higher level instead of flapping.
 */
export class Hysteresis {
  readonly levels: Uint8Array
  /** When the signal first sampled below its level; NaN while it is not below. */
  readonly #belowSince: Float64Array
  /** The highest raw level seen since #belowSince. */
  readonly #peakBelow: Uint8Array
  readonly #coolDownMs: number

  constructor(signals: number, coolDownMs: number) {
    this.levels = new Uint8Array(signals)
    this.#belowSince = new Float64Array(signals).fill(Number.NaN)
    this.#peakBelow = new Uint8Array(signals)
    this.#coolDownMs = coolDownMs
  }

  /** Feeds signal `i`'s raw level (0, 1 or 2 from its thresholds) sampled at `now`; returns its level. */
  step(i: number, raw: number, now: number): number {
    const level = this.levels[i]!
    if (raw >= level) {
      this.levels[i] = raw
      this.#belowSince[i] = Number.NaN
      return raw
    }
    if (Number.isNaN(this.#belowSince[i]!)) {
      this.#belowSince[i] = now
      this.#peakBelow[i] = raw
    } else if (raw > this.#peakBelow[i]!) {
      this.#peakBelow[i] = raw
    }
    if (now - this.#belowSince[i]! < this.#coolDownMs) return level
    const next = this.#peakBelow[i]!
    this.levels[i] = next
    // Still above the raw level (2 → 1 while now at 0): the next step down needs its own cool-down.
    this.#belowSince[i] = next > raw ? now : Number.NaN
    this.#peakBelow[i] = raw
    return next
  }

  reset(): void {
    this.levels.fill(0)
    this.#belowSince.fill(Number.NaN)
  }
}
