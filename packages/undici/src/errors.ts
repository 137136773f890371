import { BeamlineError } from '@beamline/core'

export { BeamlineError, InvalidOptionError } from '@beamline/core'

/**
 * undici marks its own errors with this symbol and makes `instanceof errors.UndiciError` test for it
 * (`Symbol.hasInstance`), in both v7 and v8. Carrying it lets code that already sorts undici failures
 * (`err instanceof errors.UndiciError`, then `err.code`) handle ours the same way, whichever major is
 * installed, without this package importing undici at run time.
 */
const kUndiciError = Symbol.for('undici.error.UND_ERR')

/** Base of the errors this package delivers to undici handlers. */
export class UndiciInterceptorError extends BeamlineError {
  /** The bulkhead or throttle key the request was counted under (by default its origin). */
  readonly key: string

  constructor(code: string, key: string, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.key = key
  }

  get [kUndiciError](): true {
    return true
  }
}

/**
 * Rejected: the key had `maxConcurrent` requests in flight and `maxQueued` waiting, before any socket
 * was touched. Also raised (with the semaphore's error as `cause`) when the shared semaphore rejects
 * another waiter (its wait queue is full).
 */
export class BulkheadFullError extends UndiciInterceptorError {
  readonly maxConcurrent: number
  readonly maxQueued: number

  constructor(key: string, maxConcurrent: number, maxQueued: number, options?: ErrorOptions) {
    super(
      'ERR_BEAMLINE_BULKHEAD_FULL',
      key,
      `bulkhead ${JSON.stringify(key)} is full (${maxConcurrent} in flight, ${maxQueued} queued)`,
      options,
    )
    this.maxConcurrent = maxConcurrent
    this.maxQueued = maxQueued
  }
}

/** Timed out: a queued request got no slot (or no permit of the shared semaphore) within `queueTimeoutMs`. */
export class QueueTimeoutError extends UndiciInterceptorError {
  readonly timeoutMs: number

  constructor(key: string, timeoutMs: number, options?: ErrorOptions) {
    super(
      'ERR_BEAMLINE_QUEUE_TIMEOUT',
      key,
      `bulkhead ${JSON.stringify(key)}: no slot within ${timeoutMs} ms`,
      options,
    )
    this.timeoutMs = timeoutMs
  }
}

/** `adaptiveThrottle` refused the request locally, as the backend has been rejecting its peers. */
export class ThrottledError extends UndiciInterceptorError {
  /** The rejection probability in force when the request was refused, in [0, 1). */
  readonly probability: number

  constructor(key: string, probability: number) {
    super(
      'ERR_BEAMLINE_THROTTLED',
      key,
      `throttled ${JSON.stringify(key)} locally: the backend accepted too few recent requests (rejection probability ${probability.toFixed(3)})`,
    )
    this.probability = probability
  }
}
