/**
 * The per-poll history of one value, the sidecar's only history primitive: the store keeps one per
 * rated counter and per peaked gauge of each target, and one per column of the status page's
 * timeline. The samples sit in a ring of two Float64Arrays sized at construction, so a history costs
 * 16 bytes per sample however long the sidecar runs.
 *
 * A counter's resets (a restarted service, or a counter that went backwards) are absorbed the way
 * Prometheus' rate() does: the value before the reset is carried as an offset, so the stored values
 * never decrease.
 */
export class Track {
  private readonly times: Float64Array
  private readonly values: Float64Array
  private head = 0
  private count = 0
  private offset = 0
  private lastRaw = Number.NaN

  /** `capacity`: samples kept (`Track.capacityFor`); `counter`: absorb resets. */
  constructor(
    capacity: number,
    readonly counter: boolean,
  ) {
    this.times = new Float64Array(capacity)
    this.values = new Float64Array(capacity)
  }

  /** Samples needed to cover `windowMs` at one sample per `intervalMs`, with one to spare each side. */
  static capacityFor(windowMs: number, intervalMs: number): number {
    return Math.ceil(windowMs / intervalMs) + 2
  }

  /** Samples held. */
  get size(): number {
    return this.count
  }

  private at(back: number): number {
    const cap = this.times.length
    return (this.head - 1 - back + cap) % cap
  }

  /** Records `raw` at `timeMs`. A sample not newer than the last one is ignored. */
  add(timeMs: number, raw: number): this {
    if (this.count > 0 && timeMs <= this.times[this.at(0)]!) return this
    if (this.counter) {
      if (raw < this.lastRaw) this.offset += this.lastRaw
      this.lastRaw = raw
    }
    this.times[this.head] = timeMs
    this.values[this.head] = this.counter ? raw + this.offset : raw
    this.head = (this.head + 1) % this.times.length
    if (this.count < this.times.length) this.count++
    return this
  }

  /**
   * Per-second increase over the last `windowMs`: from the newest sample back to the newest sample at
   * least `windowMs − slackMs` older (or the oldest held, while the history is shorter than the
   * window). The slack, half the poll interval, keeps poll jitter from turning a 1 s window into 2 s.
   * `undefined` until two samples exist.
   */
  rate(windowMs: number, slackMs: number): number | undefined {
    if (this.count < 2) return undefined
    const newest = this.at(0)
    const tNew = this.times[newest]!
    let from = this.at(this.count - 1)
    for (let i = 1; i < this.count; i++) {
      const idx = this.at(i)
      if (tNew - this.times[idx]! >= windowMs - slackMs) {
        from = idx
        break
      }
    }
    const dt = (tNew - this.times[from]!) / 1000
    return dt > 0 ? (this.values[newest]! - this.values[from]!) / dt : undefined
  }

  /**
   * Highest value of the samples less than `windowMs` older than the newest (NaN values skipped):
   * the same for every reader until the next sample, whoever asked before. `undefined` when empty.
   */
  max(windowMs: number): number | undefined {
    if (this.count === 0) return undefined
    const tNew = this.times[this.at(0)]!
    let best: number | undefined
    for (let i = 0; i < this.count; i++) {
      const idx = this.at(i)
      if (tNew - this.times[idx]! >= windowMs) break
      const v = this.values[idx]!
      if (!Number.isNaN(v) && (best === undefined || v > best)) best = v
    }
    return best
  }

  /** The values held, oldest first; NaN as null. */
  column(): (number | null)[] {
    const out = new Array<number | null>(this.count)
    for (let i = 0; i < this.count; i++) {
      const v = this.values[this.at(this.count - 1 - i)]!
      out[i] = Number.isNaN(v) ? null : v
    }
    return out
  }
}
