/**
 * A coarse clock for enqueue timestamps, in milliseconds since the epoch (`performance.timeOrigin +
 * performance.now()`, so values from different threads compare). Reading the precise clock costs
 * 70–130 ns on virtualised machines (a clock_gettime syscall), more than the whole push+shift it would
 * time. Like nginx's cached time (`ngx_time_update` once per event-loop iteration), the value is read
 * once and reused until the current synchronous run of JavaScript ends (a microtask invalidates it)
 * or 1024 reads have been served, whichever comes first.
 *
 * `epoch` changes whenever the cached value may have: a mailbox compares it with the epoch of its last
 * timestamp to tell, with one integer compare per push, whether a push can reuse that timestamp.
 *
 * The state is one object's fields rather than module variables: every mailbox holds the same
 * instance, so the JIT reads it with plain field loads (a module `let` costs a hole check and a boxed
 * number per access).
 */
const origin = performance.timeOrigin
const perf = performance
const REUSES = 1024

export class CoarseClock {
  /** Bumped at every refresh and every invalidation. Wraps as an int32 (only equality is used). */
  epoch = 0
  /** The cached time. Starts as a non-integer so the field is a double from the first store. */
  #now = 0.5
  /** Reads left before the cached time must be refreshed. */
  #budget = 0
  #invalidating = false
  readonly #invalidate = (): void => {
    this.#budget = 0
    this.epoch = (this.epoch + 1) | 0
    this.#invalidating = false
  }

  /** Current time, coarse as described above. */
  now(): number {
    return this.#budget-- > 0 ? this.#now : this.refresh()
  }

  /** Current time, precise, which becomes the cached time. */
  refresh(): number {
    this.#now = origin + perf.now()
    this.#budget = REUSES
    this.epoch = (this.epoch + 1) | 0
    if (!this.#invalidating) {
      this.#invalidating = true
      queueMicrotask(this.#invalidate)
    }
    return this.#now
  }
}

/** This thread's coarse clock. */
export const coarseClock = new CoarseClock()

/** Current time, precise: for ages reported by stats(). */
export function preciseNow(): number {
  return origin + perf.now()
}
