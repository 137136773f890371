// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'

export { HELP, resolveConfig, type SidecarConfig, type SidecarSettings, sidecarConfig } from './config.js'
export { BeamlineError, ConfigError, InvalidOptionError } from './errors.js'
export { createExposition, type Exposition, wantsOpenMetrics } from './exposition.js'
export {
  METRICS,
  type MetricDef,
  PEAK_METRICS,
  PEAKED,
  RATE_WINDOWS,
  SELF_METRICS,
  SIDECAR_METRICS,
  SNAPSHOT_METRICS,
  servedLabels,
  TARGET_LABELS,
} from './metric-names.js'
export { POLL_ERRORS, type PollError, type PollLimits, type PollResult, TargetClient } from './poller.js'
export { type Handler, Router, sendJson } from './router.js'
export { type Sidecar, type SidecarHooks, startSidecar } from './sidecar.js'
export {
  type Series,
  type ServedSeries,
  Store,
  type StoreOptions,
  TargetState,
  type TopRate,
} from './store.js'
export { parseTarget, type Target } from './target.js'
export { Track } from './track.js'
export { SNAPSHOT_SCHEMA_URL, type SnapshotProblem, snapshotError, snapshotProblem } from './validate.js'
