/**
 * The last `size` samples of a windowed signal, as two parallel rings (numerator, denominator), so
 * that a fraction over the window weights each sample by its own duration: GC milliseconds over wall
 * milliseconds, active over total event-loop time. Fixed-size typed arrays: no allocation per sample.
 */
export class SampleWindow {
  readonly #num: Float64Array
  readonly #den: Float64Array
  #next = 0

  constructor(size: number) {
    this.#num = new Float64Array(size)
    this.#den = new Float64Array(size)
  }

  push(numerator: number, denominator: number): void {
    this.#num[this.#next] = numerator
    this.#den[this.#next] = denominator
    this.#next = (this.#next + 1) % this.#num.length
  }

  /** Σ numerator / Σ denominator over the window; 0 before any time has passed. */
  ratio(): number {
    let num = 0
    let den = 0
    for (let i = 0; i < this.#num.length; i++) {
      num += this.#num[i]!
      den += this.#den[i]!
    }
    return den > 0 ? num / den : 0
  }

  /** The largest numerator in the window. */
  max(): number {
    let max = 0
    for (let i = 0; i < this.#num.length; i++) if (this.#num[i]! > max) max = this.#num[i]!
    return max
  }
}
