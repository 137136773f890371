// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'

export {
  BeamlineError,
  InvalidHandleError,
  InvalidOptionError,
  LimitExceededError,
  LimitQueueFullError,
  LimitRefusedError,
  LimitThreadSlotsError,
  LimitTimeoutError,
  type LimitTimeoutReason,
} from './errors.js'
export {
  type FastifyLimiterOptions,
  fastifyLimiter,
  httpLimiter,
  type LimiterOptions,
  type Middleware,
  type RefusalCounter,
} from './http.js'
export {
  type AcquireOptions,
  AdaptiveLimit,
  type AdaptiveLimitHandle,
  type AdaptiveLimitStats,
  type LimitChange,
  type LimitPartitionStats,
  type QueueTimeStats,
  type Token,
} from './limit.js'
export type { AdaptiveLimitOptions, AlgorithmName, CodelOptions, QueueOptions } from './options.js'
