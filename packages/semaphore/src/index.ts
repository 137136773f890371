export {
  BeamlineError,
  InvalidHandleError,
  InvalidOptionError,
  SemaphoreFullError,
  SemaphoreOverReleaseError,
  SemaphoreQueueFullError,
  SemaphoreThreadSlotsError,
  SemaphoreTimeoutError,
} from './errors.js'
export {
  type AcquireOptions,
  MAX_PERMITS,
  Semaphore,
  type SemaphoreHandle,
  type SemaphoreOptions,
  type SemaphoreStats,
  type TryCallResult,
  type WatchableWorker,
} from './semaphore.js'
