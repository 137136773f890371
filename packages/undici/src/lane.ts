import type { BulkheadRequest } from './bulkhead-request.js'

// Counter indexes in Lane.counts.
export const ADMITTED = 0
export const QUEUED_TOTAL = 1
export const REJECTED = 2
export const TIMED_OUT = 3
export const ABORTED = 4

/** How a request that held a slot ended, as an adaptive limit learns from it. */
export type Outcome = 'success' | 'dropped' | 'ignore'

/**
 * One key's bulkhead: its slots (at most `maxConcurrent` held), the FIFO of requests waiting for one,
 * and its counters. A slot is held from the moment a request takes it until it gives it back, on the
 * wire or waiting for a semaphore permit.
 */
export class Lane {
  readonly key: string
  readonly #maxConcurrent: number
  /** Slots taken: on the wire plus waiting for a semaphore permit. Never above `limit`. */
  held = 0
  active = 0
  waiting = 0
  permitWaiting = 0
  head: BulkheadRequest | null = null
  tail: BulkheadRequest | null = null
  /** One timer per lane, armed for the head's deadline: FIFO with one timeout means the head expires first. */
  timer: NodeJS.Timeout | null = null
  readonly counts = new Float64Array(5)
  unpublish: (() => void) | null = null
  /** drain() is running for this lane: a nested call (a request failing synchronously) leaves it the work. */
  draining = false

  constructor(key: string, maxConcurrent: number) {
    this.key = key
    this.#maxConcurrent = maxConcurrent
  }

  /** The concurrency limit in force. */
  get limit(): number {
    return this.#maxConcurrent
  }

  /** Nothing held, nothing waiting: the key table may evict the lane. */
  get idle(): boolean {
    return this.held === 0 && this.waiting === 0
  }

  /** Takes a slot for `request`, or returns false when every slot is held. */
  take(_request: BulkheadRequest): boolean {
    if (this.held >= this.#maxConcurrent) return false
    this.held++
    return true
  }

  /** Gives back the slot `request` took; `outcome` is what an adaptive limit learns from it. */
  give(_request: BulkheadRequest, _outcome: Outcome): void {
    this.held--
  }

  /** Appends `request` to the FIFO. */
  link(request: BulkheadRequest): void {
    request.before = this.tail
    if (this.tail === null) this.head = request
    else this.tail.after = request
    this.tail = request
    this.waiting++
  }

  /** Takes `request` out of the FIFO, wherever it is. */
  unlink(request: BulkheadRequest): void {
    if (request.before === null) this.head = request.after
    else request.before.after = request.after
    if (request.after === null) this.tail = request.before
    else request.after.before = request.before
    request.before = request.after = null
    this.waiting--
  }
}
