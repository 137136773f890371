import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { DashboardJson } from '@beamline/test-kit'

export {
  type DashboardJson,
  escapeRegexValue,
  interpolate,
  type Panel,
  prometheusTool,
  queryPanels,
  type Target,
  type Variable,
} from '@beamline/test-kit'

/** grafana/ in the source tree (tests run from grafana/dist/test). */
export const GRAFANA_DIR = fileURLToPath(new URL('../../', import.meta.url))
export const REPO_DIR = join(GRAFANA_DIR, '..')

// --- dashboards ---------------------------------------------------------------------------------

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
