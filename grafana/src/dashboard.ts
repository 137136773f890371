/**
 * What the three dashboards share: the template variables (data source, job, service, instance), the
 * links between them, the refresh and time settings, and stable panel ids so that regenerating a
 * dashboard changes the JSON only where a panel changed.
 */

import { SNAPSHOT_METRICS } from '@beamline/sidecar'
import type * as cog from '@grafana/grafana-foundation-sdk/cog'
import {
  CustomVariableBuilder,
  type Dashboard,
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  type Panel,
  QueryVariableBuilder,
  RowBuilder,
  type VariableModel,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard'
import { DATASOURCE } from './panels.js'
import { JOB_FILTER } from './selectors.js'

/** Tag every beamline dashboard carries; the dashboard links list dashboards by it. */
export const TAG = 'beamline'

/**
 * A metric every exporter serves from its first snapshot (the process start time), so the service and
 * instance pickers list every process the sidecar polls, even one without mailboxes or semaphores.
 */
const ANCHOR = SNAPSHOT_METRICS.startTime.name

/** A query variable over one label, multi-select with an "All" that matches any value (even none). */
export function labelVariable(name: string, label: string, selector: string, description: string) {
  const query = `label_values(${selector}, ${name})`
  return (
    new QueryVariableBuilder(name)
      .label(label)
      .description(description)
      .datasource(DATASOURCE)
      .query(query)
      .definition(query)
      .refresh(VariableRefresh.OnTimeRangeChanged)
      .sort(VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      // `.*` rather than Grafana's default enumeration: matches series without the label too (metrics
      // of the in-process collectors before relabelling), and keeps the query short with many values.
      .allValue('.*')
      .current({ selected: true, text: ['All'], value: ['$__all'] })
  )
}

/** `window` of the sidecar's computed rates: 1 s, 10 s or 100 s, like WhatsApp's message_queue_stats. */
export function windowVariable() {
  return new CustomVariableBuilder('window')
    .label('Rate window')
    .description(
      'Window of the rates the sidecar computes from its 1 s polls: 1s reacts, 100s shows the trend.',
    )
    .values('1s,10s,100s')
    .current({ selected: true, text: '10s', value: '10s' })
    .options(['1s', '10s', '100s'].map((w) => ({ selected: w === '10s', text: w, value: w })))
}

export interface Row {
  title: string
  panels: ReadonlyArray<cog.Builder<Panel>>
}

export interface DashboardSpec {
  uid: string
  title: string
  description: string
  /** Variables after datasource, job, service and instance. */
  variables?: ReadonlyArray<cog.Builder<VariableModel>>
  rows: readonly Row[]
}

export function beamlineDashboard(spec: DashboardSpec): Dashboard {
  const b = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags([TAG])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .refresh('10s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .link(
      new DashboardLinkBuilder('Beamline')
        .type(DashboardLinkType.Dashboards)
        .tags([TAG])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true)
        .icon('external link')
        .tooltip('')
        .url('')
        .targetBlank(false),
    )
    .withVariable(
      new DatasourceVariableBuilder('datasource')
        .label('Data source')
        .description('The Prometheus that scrapes the beamline sidecars.')
        .type('prometheus')
        .current({ selected: true, text: 'default', value: 'default' }),
    )
    .withVariable(labelVariable('job', 'Job', ANCHOR, 'Prometheus scrape job of the beamline sidecars.'))
    .withVariable(
      labelVariable(
        'service',
        'Service',
        `${ANCHOR}{${JOB_FILTER}}`,
        'The `service` option given to startExporter.',
      ),
    )
    .withVariable(
      labelVariable(
        'instance',
        'Instance',
        `${ANCHOR}{${JOB_FILTER},service=~"$service"}`,
        'One process (`instance` option of startExporter, default hostname:pid).',
      ),
    )
  for (const v of spec.variables ?? []) b.withVariable(v)
  for (const row of spec.rows) {
    b.withRow(new RowBuilder(row.title))
    for (const p of row.panels) b.withPanel(p)
  }
  const dashboard = b.build()
  // Stable ids in layout order: Grafana needs unique ids, and regeneration must be deterministic.
  dashboard.panels?.forEach((p, i) => {
    p.id = i + 1
  })
  return dashboard
}
