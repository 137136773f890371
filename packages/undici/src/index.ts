// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'

export {
  type AdaptiveThrottleInterceptor,
  type AdaptiveThrottleOptions,
  adaptiveThrottle,
  type ThrottleKeyStats,
} from './adaptive-throttle.js'
export {
  type AdaptiveConcurrency,
  type BulkheadInterceptor,
  type BulkheadKeyStats,
  type BulkheadOptions,
  bulkhead,
  type QueueRegistry,
  type SharedPermits,
} from './bulkhead.js'
export {
  BeamlineError,
  BulkheadFullError,
  InvalidOptionError,
  QueueTimeoutError,
  ThrottledError,
  UndiciInterceptorError,
} from './errors.js'
export { OVERFLOW_KEY, originKey } from './key-table.js'
export type { LegacyDispatchHandler } from './legacy-handler.js'
export type { Dispatch, DispatchOptions, Interceptor, KeyFunction } from './types.js'
