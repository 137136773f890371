export {
  type DashboardJson,
  escapeRegexValue,
  interpolate,
  type Panel,
  type PanelQuery,
  panelQueries,
  queryPanels,
  type Target,
  type Variable,
} from './grafana.js'
export {
  eventually,
  freePort,
  SIDECAR_CLI,
  type SidecarProcess,
  startSidecarProcess,
  stopChild,
} from './processes.js'
export {
  commandOnPath,
  type PrometheusOptions,
  type PrometheusServer,
  type PromResponse,
  type PromSeries,
  prometheusTool,
  startPrometheus,
} from './prometheus.js'
