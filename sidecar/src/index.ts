export { HELP, resolveConfig, type SidecarConfig, type SidecarSettings, sidecarConfig } from './config.js'
export { BeamlineError, ConfigError, InvalidOptionError } from './errors.js'
export { createExposition, type Exposition, wantsOpenMetrics } from './exposition.js'
export {
  METRICS,
  type MetricDef,
  PEAK_METRICS,
  PEAKED,
  RATE_WINDOWS,
  SIDECAR_METRICS,
  SNAPSHOT_METRICS,
  servedLabels,
  TARGET_LABELS,
} from './metric-names.js'
export { type PollLimits, type PollResult, TargetClient } from './poller.js'
export { CounterRate } from './rates.js'
export { type Handler, Router, sendJson } from './router.js'
export { type Sidecar, type SidecarHooks, startSidecar } from './sidecar.js'
export { type HistoryPoint, type Series, Store, TargetState } from './store.js'
export { parseTarget, type Target } from './target.js'
export { SNAPSHOT_SCHEMA_URL, snapshotError } from './validate.js'
