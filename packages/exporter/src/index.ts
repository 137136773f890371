// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'

export { BeamlineError, InvalidOptionError, ListenError } from './errors.js'
export { forEachSample, type MetricDef, metric, type SampleSink, SNAPSHOT_METRICS } from './metrics.js'
export { type OtelInstruments, type OtelInstrumentsOptions, otelInstruments } from './otel-instruments.js'
export {
  createPromMetric,
  type PromCollector,
  type PromCollectorOptions,
  type PromValue,
  promCollector,
} from './prom-collector.js'
export {
  developmentSocketDir,
  type Exporter,
  type ExporterOptions,
  type ListenOptions,
  SOCKET_DIR,
  startExporter,
} from './server.js'
export { SNAPSHOT_PATH, SNAPSHOT_SCHEMA } from './snapshot-limits.js'
// Types only: the schema module itself (TypeBox) is for the sidecar, `@beamline/exporter/schema`.
export type {
  BulkheadRow,
  MailboxGroup,
  MailboxTopRow,
  PressureReasonRow,
  RuntimeSnapshot,
  SemaphoreRow,
  ShedCountRow,
  Snapshot,
  SnapshotMailboxes,
  SnapshotPressure,
  SnapshotRing,
  SnapshotUndici,
  ThrottleRow,
} from './snapshot-schema.js'
export type * from './sources.js'
