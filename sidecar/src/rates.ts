/**
 * Rate of one cumulative counter over sliding windows, from the samples of successive polls. The
 * samples sit in a ring of two typed arrays sized for the longest window, so a series costs a fixed
 * few kilobytes however long the sidecar runs. Counter resets (a restarted service, or a counter that
 * went backwards) are absorbed the way Prometheus' rate() does: the value before the reset is carried
 * as an offset, so the stored series never decreases.
 */
export class CounterRate {
  private readonly times: Float64Array
  private readonly values: Float64Array
  private head = 0
  private size = 0
  private offset = 0
  private lastRaw = Number.NaN

  /**
   * `capacity`: samples kept (`capacityFor`). `slackMs`: how much shorter than the window a span may be
   * and still count as the whole window, half the poll interval, so that poll jitter does not turn a
   * 1 s window into a 2 s one.
   */
  constructor(
    capacity: number,
    private readonly slackMs: number,
  ) {
    this.times = new Float64Array(capacity)
    this.values = new Float64Array(capacity)
  }

  static capacityFor(longestWindowMs: number, intervalMs: number): number {
    return Math.ceil(longestWindowMs / intervalMs) + 2
  }

  /** Records the counter's raw value at `timeMs`. Samples not newer than the last are ignored. */
  add(timeMs: number, raw: number): void {
    if (this.size > 0 && timeMs <= this.times[(this.head - 1 + this.times.length) % this.times.length]!)
      return
    if (raw < this.lastRaw) this.offset += this.lastRaw
    this.lastRaw = raw
    this.times[this.head] = timeMs
    this.values[this.head] = raw + this.offset
    this.head = (this.head + 1) % this.times.length
    if (this.size < this.times.length) this.size++
  }

  /**
   * Per-second increase over the last `windowMs`: from the newest sample back to the newest sample at
   * least `windowMs` (less the slack) older (or the oldest kept, while the history is shorter than the window).
   * `undefined` until two samples exist.
   */
  rate(windowMs: number): number | undefined {
    if (this.size < 2) return undefined
    const cap = this.times.length
    const newest = (this.head - 1 + cap) % cap
    const tNew = this.times[newest]!
    let from = (this.head - this.size + cap) % cap
    for (let i = 1; i < this.size; i++) {
      const idx = (this.head - 1 - i + cap) % cap
      if (tNew - this.times[idx]! >= windowMs - this.slackMs) {
        from = idx
        break
      }
    }
    const dt = (tNew - this.times[from]!) / 1000
    return dt > 0 ? (this.values[newest]! - this.values[from]!) / dt : undefined
  }
}
