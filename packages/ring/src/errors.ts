import { BeamlineError } from '@beamline/core'

export { BeamlineError, InvalidHandleError, InvalidOptionError, ReadOnlyError } from '@beamline/core'

/** A snapshot, value or ring larger than the structure's `maxBytes`. Nothing was published: the old version stays readable. */
export class SnapshotTooLargeError extends BeamlineError {
  /** Bytes the new version needed. */
  readonly bytes: number
  /** The structure's limit, fixed at construction. */
  readonly maxBytes: number

  constructor(what: string, bytes: number, maxBytes: number) {
    super(
      'ERR_BEAMLINE_SNAPSHOT_TOO_LARGE',
      `${what} needs ${bytes} bytes but maxBytes is ${maxBytes}; the previous version is still published`,
    )
    this.bytes = bytes
    this.maxBytes = maxBytes
  }
}

/** `get`/`getN` on a ring without nodes. */
export class RingEmptyError extends BeamlineError {
  constructor() {
    super('ERR_BEAMLINE_RING_EMPTY', 'the hash ring has no nodes')
  }
}

/**
 * `SharedValue.set()` got a value the structured-clone algorithm cannot encode (a function, a symbol,
 * a class with private state...). The `cause` is V8's own error; the previous value is still published.
 */
export class ValueNotCloneableError extends BeamlineError {
  constructor(cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause)
    super(
      'ERR_BEAMLINE_VALUE_NOT_CLONEABLE',
      `SharedValue.set: the value cannot be structured-cloned (${detail}); the previous value is still published`,
      {
        cause,
      },
    )
  }
}

/**
 * `SharedValue.set()` could not take the writers' lock within `lockTimeoutMs`. Writers hold it only
 * for a memcpy, so this means a writer thread died mid-set and nobody `watch()`ed it, or is stopped
 * in a debugger. Nothing was published.
 */
export class ValueLockTimeoutError extends BeamlineError {
  /** `threadId` of the thread holding the lock. */
  readonly holder: number

  constructor(holder: number, timeoutMs: number) {
    super(
      'ERR_BEAMLINE_VALUE_LOCK_TIMEOUT',
      `SharedValue.set: thread ${holder} has held the writers' lock for more than ${timeoutMs} ms; if it exited, watch() its Worker so that its lock is released`,
    )
    this.holder = holder
  }
}
