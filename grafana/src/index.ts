export {
  beamlineDashboard,
  type DashboardSpec,
  labelVariable,
  type Row,
  TAG,
  windowVariable,
} from './dashboard.js'
export { DASHBOARDS, type DashboardFile, dashboardJson } from './dashboards.js'
export { GENERATED_FILES, type GeneratedFile, REPOSITORY } from './generated.js'
export { loadProtection } from './load-protection.js'
export { mailboxes } from './mailboxes.js'
export { INSTANCE_DRILL_DOWN, overview } from './overview.js'
export { DATASOURCE, type PanelSpec, type Query } from './panels.js'
export { prometheusRuleYaml } from './prometheus-rule.js'
export {
  RECORDED,
  RECORDED_RATE_WINDOW,
  RECORDED_SERIES,
  RECORDING_GROUPS,
  type RecordedDef,
  type RecordingRule,
  recordingRulesYaml,
} from './recording-rules.js'
export { JOB_FILTER, PROMETHEUS_UP, peak, rate, recordedSel, sel, TARGET_FILTERS } from './selectors.js'
