import { accessSync, constants, readFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'

/** grafana/ in the source tree (tests run from grafana/dist/test). */
export const GRAFANA_DIR = fileURLToPath(new URL('../../', import.meta.url))
export const REPO_DIR = join(GRAFANA_DIR, '..')

/**
 * Path of a command of Debian's `prometheus` package (prometheus, promtool), or undefined after
 * skipping the test. Under CI (CI=true) a missing command fails instead: .ci/run installs it.
 */
export function prometheusTool(t: TestContext, name: 'prometheus' | 'promtool'): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {}
  }
  const message = `${name} not found on PATH: install the Debian package \`prometheus\` (apt-get install prometheus)`
  if (process.env.CI === 'true') throw new Error(message)
  t.skip(message)
  return undefined
}

// --- dashboards ---------------------------------------------------------------------------------

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
  fieldConfig?: { defaults?: { unit?: string } }
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

export const DASHBOARD_FILES = [
  'beamline-overview.json',
  'beamline-mailboxes.json',
  'beamline-load-protection.json',
]

export function readDashboardText(file: string): string {
  return readFileSync(join(GRAFANA_DIR, 'dashboards', file), 'utf8')
}

export function readDashboards(): DashboardJson[] {
  return DASHBOARD_FILES.map((f) => JSON.parse(readDashboardText(f)) as DashboardJson)
}

/** Every panel with queries, rows' children included. */
export function queryPanels(d: DashboardJson): Panel[] {
  return d.panels.flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]))
}

// --- PromQL -------------------------------------------------------------------------------------

const CLAUSES = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'])
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan'])
/** Aggregation operators: may be followed by a by/without clause instead of '('. */
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
])
const TOKEN =
  /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\[[^\]]*\]|\{[^}]*\}|\$\{?\w+\}?|\d+(?:\.\d+)?(?:e[+-]?\d+|ms|[smhdwy])?|[a-zA-Z_:][\w:]*|\S/g

export interface Selector {
  metric: string
  /** The text between the braces, '' without them. */
  matchers: string
}

/**
 * The metric selectors of a PromQL expression: every identifier that is not a function, keyword or a
 * label of a by/on/… clause, with its `{…}` matchers. Enough PromQL for the queries these dashboards
 * and rules write; the real-Prometheus test proves they parse.
 */
export function metricSelectors(expr: string): Selector[] {
  const tokens = expr.match(TOKEN) ?? []
  const out: Selector[] = []
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!
    if (!/^[a-zA-Z_:]/.test(tok)) continue
    const next = tokens[i + 1]
    if (CLAUSES.has(tok)) {
      // Skip the label list.
      if (next === '(') while (i < tokens.length && tokens[i] !== ')') i++
      continue
    }
    if (KEYWORDS.has(tok) || AGGREGATIONS.has(tok) || next === '(') continue
    const matchers = next?.startsWith('{') ? next.slice(1, -1) : ''
    out.push({ metric: tok, matchers })
  }
  return out
}

/** Range selectors (`[5m]`, `[$__rate_interval]`) of an expression, brackets included. */
export function ranges(expr: string): string[] {
  return (expr.match(TOKEN) ?? []).filter((t) => t.startsWith('['))
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
