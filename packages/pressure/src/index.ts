// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'

export { defaultRoute } from '@beamline/core'
export { BeamlineError, InvalidHandleError, InvalidOptionError } from './errors.js'
export {
  type PressureChange,
  type PressureHandle,
  type PressureLevel,
  PressureMonitor,
  type PressureMonitorOptions,
  Priority,
  type Readiness,
} from './monitor.js'
export { readyzHandler } from './readiness.js'
export type { QueueRegistry, SignalSource } from './sampler.js'
export type { ShedStat } from './shed-stats.js'
export {
  createGuard,
  expressShedder,
  type FastifyShedderOptions,
  fastifyShedder,
  type Guard,
  httpShedder,
  type Middleware,
  type Refusal,
  type ShedderOptions,
} from './shedder.js'
export {
  DEFAULT_THRESHOLDS,
  type PressureReason,
  SIGNALS,
  type SignalName,
  type Threshold,
  type Thresholds,
} from './signals.js'
