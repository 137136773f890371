/**
 * The dashboards' queries as Grafana sends them: the JSON shapes the tests read, the panels that hold
 * queries, and the substitution of template variables (`$job`, `${instance}`, `$__rate_interval`, …).
 */

export interface Target {
  expr: string
  refId: string
  instant?: boolean
  range?: boolean
  datasource?: { type?: string; uid?: string }
}

export interface Panel {
  id: number
  type: string
  title: string
  description?: string
  datasource?: { type?: string; uid?: string }
  fieldConfig?: { defaults?: { unit?: string; links?: Array<{ title: string; url: string }> } }
  targets?: Target[]
  panels?: Panel[]
}

export interface Variable {
  type: string
  name: string
  query?: unknown
  allValue?: string
  includeAll?: boolean
  datasource?: { type?: string; uid?: string }
  options?: Array<{ value: string }>
}

export interface DashboardJson {
  uid: string
  title: string
  panels: Panel[]
  templating: { list: Variable[] }
}

/** Every panel with queries, rows' children included. */
export function queryPanels(d: DashboardJson): Panel[] {
  return d.panels.flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]))
}

/** Grafana's escaping of a variable value used in a regex matcher (=~) of a Prometheus query. */
export function escapeRegexValue(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}]/g, '\\\\$&')
}

/**
 * Substitutes `$name`, `${name}` and `[[name]]` as Grafana does before sending a query: `values` maps
 * names to their final text (regex-escaped and joined already for multi-value variables).
 */
export function interpolate(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a, b, c) => {
    const name = (a ?? b ?? c) as string
    const value = values[name]
    if (value === undefined) throw new Error(`no value for variable ${whole} in ${expr}`)
    return value
  })
}

export interface PanelQuery {
  /** `<panel title> <refId> (<choice>[, window <w>])`, for messages. */
  readonly where: string
  readonly query: string
  /** Grafana sends it as an instant query (tables), else as a range query. */
  readonly instant: boolean
}

/**
 * Every query of every panel of `d`, once per choice of variable values (e.g. All and one picked
 * instance) and, for queries using `$window`, once per value of that variable.
 */
export function panelQueries(
  d: DashboardJson,
  choices: ReadonlyArray<readonly [label: string, values: Readonly<Record<string, string>>]>,
  builtins: Readonly<Record<string, string>>,
): PanelQuery[] {
  const windows = d.templating.list.find((v) => v.name === 'window')?.options?.map((o) => o.value) ?? ['']
  const out: PanelQuery[] = []
  for (const p of queryPanels(d)) {
    for (const target of p.targets ?? []) {
      for (const [label, values] of choices) {
        for (const w of target.expr.includes('$window') ? windows : ['']) {
          out.push({
            where: `${p.title} ${target.refId} (${label}${w ? `, window ${w}` : ''})`,
            query: interpolate(target.expr, { ...values, ...builtins, window: w }),
            instant: target.instant === true,
          })
        }
      }
    }
  }
  return out
}
