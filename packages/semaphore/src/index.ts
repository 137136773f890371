// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'

export type { WatchableWorker } from '@beamline/core'
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
} from './semaphore.js'
