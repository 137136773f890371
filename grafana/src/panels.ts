/**
 * Panel factories. Each one demands what the conventions demand of every panel — a unit and a
 * description saying what a bad value means and what to do — so a panel cannot be written without
 * them; the Prometheus data source is always the `$datasource` variable, never a fixed name.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog'
import type * as common from '@grafana/grafana-foundation-sdk/common'
import {
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  LegendDisplayMode,
  LegendPlacement,
  StackingConfigBuilder,
  StackingMode,
  TableSortByFieldStateBuilder,
  VisibilityMode,
  VizLegendOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common'
import {
  DashboardLinkBuilder,
  type DynamicConfigValue,
  FieldColorBuilder,
  FieldColorModeId,
  MappingType,
  type Panel,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type ValueMapping,
} from '@grafana/grafana-foundation-sdk/dashboard'
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus'
import * as stat from '@grafana/grafana-foundation-sdk/stat'
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline'
import * as table from '@grafana/grafana-foundation-sdk/table'
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries'

/** Every query and panel reads from the data source the `datasource` variable names. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, resolved by Grafana.
export const DATASOURCE: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' }

export interface Query {
  expr: string
  /** Legend, in Grafana's `{{label}}` syntax. */
  legend: string
}

/** `expr` summed by one label, its series named after that label's value and `what`. */
export function sumBy(label: string, expr: string, what: string): Query {
  return { expr: `sum by (${label}) (${expr})`, legend: `{{${label}}} ${what}` }
}

export interface PanelSpec {
  title: string
  /** What the panel shows, what a bad value means and what to do about it. */
  description: string
  /** A Grafana unit id (`s`, `bytes`, `percentunit`, `reqps`, `mps`, `short`, `none`, …). */
  unit: string
  queries: readonly Query[]
  /** Grid width, 1–24. Default 12. */
  width?: number
  /** Grid height. Default 8. */
  height?: number
}

/** Colours of the pressure levels and of up/down, the same on every dashboard. */
export const GREEN = 'green'
export const YELLOW = 'yellow'
export const RED = 'red'

type Target = cog.Builder<cog.Dataquery>

function target(q: Query, index: number, instant: boolean): Target {
  const b = new DataqueryBuilder()
    .datasource(DATASOURCE)
    .expr(q.expr)
    .legendFormat(q.legend)
    .refId(String.fromCharCode(65 + index))
  return instant ? b.instant().format(PromQueryFormat.Table) : b.range()
}

interface CommonBuilder {
  title(title: string): this
  description(description: string): this
  unit(unit: string): this
  span(w: number): this
  height(h: number): this
  datasource(datasource: common.DataSourceRef): this
  withTarget(target: Target): this
}

function apply<B extends CommonBuilder>(b: B, spec: PanelSpec, instant = false): B {
  b.title(spec.title)
    .description(spec.description)
    .unit(spec.unit)
    .span(spec.width ?? 12)
    .height(spec.height ?? 8)
    .datasource(DATASOURCE)
  spec.queries.forEach((q, i) => {
    b.withTarget(target(q, i, instant))
  })
  return b
}

/** Absolute thresholds: `[value, colour]` steps above the `base` colour (Grafana's null step). */
function thresholds(steps: ReadonlyArray<readonly [number, string]>, base = GREEN) {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps([
      { value: null as unknown as number, color: base },
      ...steps.map(([value, color]) => ({ value, color })),
    ])
}

const tableLegend = () =>
  new VizLegendOptionsBuilder()
    .displayMode(LegendDisplayMode.Table)
    .placement(LegendPlacement.Bottom)
    .showLegend(true)
    .calcs(['lastNotNull', 'max'])

export interface TimeseriesSpec extends PanelSpec {
  min?: number
  max?: number
  /** Coloured threshold steps, drawn as dashed lines. */
  thresholds?: ReadonlyArray<readonly [number, string]>
  stack?: boolean
  /** Per-series settings by regular expression on the series name (e.g. a unit per pressure signal). */
  overrides?: ReadonlyArray<{ matcher: string; properties: DynamicConfigValue[] }>
}

export function timeseriesPanel(spec: TimeseriesSpec): timeseries.PanelBuilder {
  const b = apply(new timeseries.PanelBuilder(), spec).legend(tableLegend()).fillOpacity(10)
  if (spec.min !== undefined) b.min(spec.min)
  if (spec.max !== undefined) b.max(spec.max)
  if (spec.thresholds) {
    b.thresholds(thresholds(spec.thresholds)).thresholdsStyle(
      new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed),
    )
  }
  if (spec.stack) b.stacking(new StackingConfigBuilder().mode(StackingMode.Normal))
  for (const o of spec.overrides ?? []) b.overrideByRegexp(o.matcher, o.properties)
  return b
}

/** Value → text and colour, for level-like series shown in a state timeline. */
export function states(entries: ReadonlyArray<readonly [number, string, string]>): ValueMapping[] {
  const options: Record<string, { text: string; color: string; index: number }> = {}
  entries.forEach(([value, text, color], index) => {
    options[String(value)] = { text, color, index }
  })
  return [{ type: MappingType.ValueToText, options }]
}

export interface StateTimelineSpec extends PanelSpec {
  mappings: ValueMapping[]
  /** Colour steps matching the mappings, so values between two levels still get a colour. */
  thresholds: ReadonlyArray<readonly [number, string]>
  /** Colour below the first step. Default green. */
  base?: string
}

export function stateTimelinePanel(spec: StateTimelineSpec): statetimeline.PanelBuilder {
  return apply(new statetimeline.PanelBuilder(), spec)
    .mappings(spec.mappings)
    .thresholds(thresholds(spec.thresholds, spec.base))
    .colorScheme(new FieldColorBuilder().mode(FieldColorModeId.Thresholds))
    .mergeValues(true)
    .showValue(VisibilityMode.Auto)
    .fillOpacity(80)
}

export interface StatSpec extends PanelSpec {
  thresholds?: ReadonlyArray<readonly [number, string]>
}

export function statPanel(spec: StatSpec): stat.PanelBuilder {
  const b = apply(new stat.PanelBuilder(), spec)
  if (spec.thresholds) b.thresholds(thresholds(spec.thresholds))
  return b
}

export interface TableSpec extends PanelSpec {
  /** Column renames, from the merged frame's field names (`Value #A`, …) to headers. */
  columns: Readonly<Record<string, string>>
  /** Header of the column to sort by, descending. */
  sortBy: string
  /** Data links on every cell, e.g. a drill-down to one row's instance (`${__data.fields.instance}`). */
  links?: ReadonlyArray<{ title: string; url: string }>
}

/** Instant queries merged into one row per label set (Grafana's `merge` transformation). */
export function tablePanel(spec: TableSpec): table.PanelBuilder {
  const b = apply(new table.PanelBuilder(), spec, true)
    .withTransformation({ id: 'merge', options: {} })
    .withTransformation({
      id: 'organize',
      options: { excludeByName: { Time: true, job: true }, renameByName: { ...spec.columns } },
    })
    .sortBy([new TableSortByFieldStateBuilder().displayName(spec.sortBy).desc(true)])
  if (spec.links)
    b.dataLinks(spec.links.map((l) => new DashboardLinkBuilder(l.title).url(l.url).targetBlank(false)))
  return b
}

export type { Panel }
