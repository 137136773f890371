import { BeamlineError } from '@beamline/core'

export { BeamlineError, InvalidHandleError, InvalidOptionError } from '@beamline/core'

/**
 * Base of the three refusals, so that one `instanceof` tells a refusal from the caller's own errors.
 * Refusals carry no stack trace: they are expected outcomes, thousands a second under overload, and
 * capturing a stack costs more than the rest of a refusal; `limit` and `partition` say where it was.
 */
export class LimitRefusedError extends BeamlineError {
  /** The limit's `name`. */
  readonly limit: string
  /** The partition the request asked for. */
  readonly partition: string

  constructor(code: string, limit: string, partition: string, message: string) {
    const depth = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    try {
      super(code, message)
    } finally {
      Error.stackTraceLimit = depth
    }
    this.limit = limit
    this.partition = partition
  }
}

/** At the limit and not allowed to wait (no queue, or `tryAcquire` semantics through `acquire`). */
export class LimitExceededError extends LimitRefusedError {
  /** The concurrency limit in force when the request was refused. */
  readonly current: number

  constructor(limit: string, partition: string, current: number) {
    super(
      'ERR_BEAMLINE_LIMIT_EXCEEDED',
      limit,
      partition,
      `limit ${JSON.stringify(limit)}: ${current} requests in flight already (partition ${JSON.stringify(partition)})`,
    )
    this.current = current
  }
}

/** At the limit, and `queue.maxWaiters` requests already wait (all threads together). */
export class LimitQueueFullError extends LimitRefusedError {
  readonly maxWaiters: number

  constructor(limit: string, partition: string, maxWaiters: number) {
    super(
      'ERR_BEAMLINE_LIMIT_QUEUE_FULL',
      limit,
      partition,
      `limit ${JSON.stringify(limit)}: ${maxWaiters} requests already wait (queue.maxWaiters)`,
    )
    this.maxWaiters = maxWaiters
  }
}

/**
 * Why a waiting request was refused: `codel`, it waited longer than `queue.codel.targetMs` while the
 * queue had not been empty for `queue.codel.intervalMs`; `maxWait`, it reached `queue.maxWaitMs`;
 * `timeout`, it reached the caller's own `timeoutMs`.
 */
export type LimitTimeoutReason = 'codel' | 'maxWait' | 'timeout'

/** A waiting request got no slot in time; `reason` says which bound it hit. */
export class LimitTimeoutError extends LimitRefusedError {
  readonly reason: LimitTimeoutReason
  /** Milliseconds it waited, on the limit's clock. */
  readonly waitedMs: number

  constructor(limit: string, partition: string, reason: LimitTimeoutReason, waitedMs: number) {
    const why =
      reason === 'codel'
        ? 'the queue is standing (not empty for queue.codel.intervalMs) and it waited longer than queue.codel.targetMs'
        : reason === 'maxWait'
          ? 'it reached queue.maxWaitMs'
          : 'it reached its timeoutMs'
    super(
      'ERR_BEAMLINE_LIMIT_TIMEOUT',
      limit,
      partition,
      `limit ${JSON.stringify(limit)}: refused after waiting ${waitedMs.toFixed(1)} ms: ${why}`,
    )
    this.reason = reason
    this.waitedMs = waitedMs
  }
}

/** Every thread slot is taken: more threads attached than `maxThreads`. */
export class LimitThreadSlotsError extends BeamlineError {
  constructor(limit: string, slots: number) {
    super(
      'ERR_BEAMLINE_LIMIT_THREAD_SLOTS',
      `limit ${JSON.stringify(limit)}: all ${slots} thread slots are taken; raise maxThreads (a worker's slot frees when it exits)`,
    )
  }
}
