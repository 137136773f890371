export {
  beamlineDashboard,
  type DashboardSpec,
  labelVariable,
  type Row,
  TAG,
  windowVariable,
} from './dashboard.js'
export { DASHBOARDS, type DashboardFile, dashboardJson } from './dashboards.js'
export { loadProtection } from './load-protection.js'
export { mailboxes } from './mailboxes.js'
export { overview } from './overview.js'
export { DATASOURCE, type PanelSpec, type Query } from './panels.js'
export { JOB_FILTER, PROMETHEUS_UP, peak, rate, sel, TARGET_FILTERS } from './selectors.js'
