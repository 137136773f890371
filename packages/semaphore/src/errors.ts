import { BeamlineError } from '@beamline/core'

export { BeamlineError, InvalidHandleError, InvalidOptionError } from '@beamline/core'

/** `call()` found no free permit. Thrown at once: failing fast is the point. */
export class SemaphoreFullError extends BeamlineError {
  constructor(name: string, max: number) {
    super('ERR_BEAMLINE_SEMAPHORE_FULL', `semaphore ${JSON.stringify(name)} is full (max ${max})`)
  }
}

/** `release(n)` asked to return more permits than this thread holds; nothing was changed. */
export class SemaphoreOverReleaseError extends BeamlineError {
  constructor(name: string, permits: number, held: number) {
    super(
      'ERR_BEAMLINE_SEMAPHORE_OVER_RELEASE',
      `semaphore ${JSON.stringify(name)}: release(${permits}) but this thread holds ${held}; permits are released by the thread that acquired them`,
    )
  }
}

/** `acquire()` would park more than `maxWaiters` callers across all threads. */
export class SemaphoreQueueFullError extends BeamlineError {
  constructor(name: string, maxWaiters: number) {
    super(
      'ERR_BEAMLINE_SEMAPHORE_QUEUE_FULL',
      `semaphore ${JSON.stringify(name)}: ${maxWaiters} waiters already parked (maxWaiters)`,
    )
  }
}

/** `acquire({ timeoutMs })` got no permit in time. */
export class SemaphoreTimeoutError extends BeamlineError {
  constructor(name: string, timeoutMs: number) {
    super(
      'ERR_BEAMLINE_SEMAPHORE_TIMEOUT',
      `semaphore ${JSON.stringify(name)}: no permit within ${timeoutMs} ms`,
    )
  }
}

/** Every thread slot is taken: more threads attached than `maxThreads`, or exited workers whose exit no thread saw. */
export class SemaphoreThreadSlotsError extends BeamlineError {
  constructor(name: string, slots: number) {
    super(
      'ERR_BEAMLINE_SEMAPHORE_THREAD_SLOTS',
      `semaphore ${JSON.stringify(name)}: all ${slots} thread slots are taken; raise maxThreads; a worker frees its slot when it exits if the thread that created it holds this semaphore (or watch()es it)`,
    )
  }
}
