/*
 * The dashboard JSON, checked as an operator's Grafana will read it:
 * - the checked-in grafana/dashboards/*.json are exactly what `npm run dashboards` generates;
 * - conventions: a `datasource` variable and every query reading through it (no fixed data source, no
 *   `${DS_…}` import input), job/service/instance variables, every query filtered by them,
 *   `$__rate_interval` as the only range, a unit and a description (bad value + what to do) on every
 *   panel;
 * - every metric name used exists in the sidecar's metric-name module (Prometheus' `up` aside).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  DASHBOARDS,
  dashboardJson,
  PROMETHEUS_UP,
  RECORDED_SERIES,
  type RecordedDef,
} from '@beamline/grafana'
import { METRICS, type MetricDef, servedLabels } from '@beamline/sidecar'
import {
  DASHBOARD_FILES,
  type DashboardJson,
  metricSelectors,
  queryPanels,
  ranges,
  readDashboards,
  readDashboardText,
} from './helpers.js'

const BY_NAME = new Map<string, MetricDef>(METRICS.map((d) => [d.name, d]))
/** Series of the recording rules (grafana/src/recording-rules.ts), filtered by the labels they keep. */
const RECORDED_BY_NAME = new Map<string, RecordedDef>(RECORDED_SERIES.map((d) => [d.name, d]))
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax.
const DS = '${datasource}'

test('checked-in dashboards equal freshly generated output (run `npm run dashboards` after a change)', () => {
  assert.deepEqual(
    DASHBOARDS.map((d) => d.file),
    DASHBOARD_FILES,
  )
  for (const d of DASHBOARDS) {
    assert.equal(
      readDashboardText(d.file),
      dashboardJson(d.build()),
      `${d.file} is stale: run npm run dashboards`,
    )
  }
})

const dashboards = readDashboards()

/** Every `datasource` object anywhere in the JSON. */
function datasourceRefs(node: unknown, path: string, out: Array<[string, unknown]>): void {
  if (Array.isArray(node)) {
    for (const [i, n] of node.entries()) datasourceRefs(n, `${path}[${i}]`, out)
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'datasource') out.push([`${path}.${k}`, v])
      datasourceRefs(v, `${path}.${k}`, out)
    }
  }
}

function checkSelectors(where: string, expr: string, problems: string[]): void {
  const selectors = metricSelectors(expr)
  if (selectors.length === 0) problems.push(`${where}: no metric in ${expr}`)
  for (const { metric, matchers } of selectors) {
    const recorded = RECORDED_BY_NAME.get(metric)
    if (recorded) {
      for (const f of ['job=~"$job"', 'service=~"$service"', 'instance=~"$instance"'])
        if (recorded.labels.includes(/^\w+/.exec(f)![0]) && !matchers.includes(f))
          problems.push(`${where}: ${metric} without ${f}`)
      continue
    }
    const def = BY_NAME.get(metric)
    if (!def && metric !== PROMETHEUS_UP) {
      problems.push(`${where}: ${metric} is not in sidecar/src/metric-names.ts`)
      continue
    }
    if (!matchers.includes('job=~"$job"')) problems.push(`${where}: ${metric} without job=~"$job"`)
    if (def && servedLabels(def).includes('service')) {
      for (const f of ['service=~"$service"', 'instance=~"$instance"']) {
        if (!matchers.includes(f)) problems.push(`${where}: ${metric} without ${f}`)
      }
    }
  }
}

for (const d of dashboards) {
  test(`${d.title}: data source, variables and filters follow the conventions`, () => {
    const text = JSON.stringify(d)
    assert.ok(!text.includes('${DS_'), 'a DS_ import input (from "export for sharing") breaks provisioning')
    assert.ok(
      !('__inputs' in d) && !('__requires' in d),
      'exported-for-sharing dashboards break provisioning',
    )
    assert.match(d.uid, /^beamline-[a-z-]+$/)
    assert.match(d.title, /^Beamline \/ /)

    const vars = new Map(d.templating.list.map((v) => [v.name, v]))
    const ds = vars.get('datasource')
    assert.equal(ds?.type, 'datasource')
    assert.equal(ds?.query, 'prometheus')
    for (const name of ['job', 'service', 'instance']) {
      const v = vars.get(name)
      assert.equal(v?.type, 'query', `variable ${name}`)
      assert.equal(v?.includeAll, true, `variable ${name} has All`)
      assert.equal(v?.allValue, '.*', `variable ${name}: All must match series without the label`)
    }

    const refs: Array<[string, unknown]> = []
    datasourceRefs(d, d.uid, refs)
    assert.ok(refs.length > 0)
    for (const [path, ref] of refs) {
      assert.deepEqual(
        ref,
        { type: 'prometheus', uid: DS },
        `${path}: a fixed data source breaks on other Grafanas`,
      )
    }

    const problems: string[] = []
    for (const v of d.templating.list) {
      if (v.type !== 'query') continue
      const m = /^label_values\((.*), (\w+)\)$/.exec(String(v.query))
      if (!m) problems.push(`variable ${v.name}: ${String(v.query)} is not label_values(selector, label)`)
      else
        for (const { metric } of metricSelectors(m[1]!))
          if (!BY_NAME.has(metric)) problems.push(`variable ${v.name}: ${metric}`)
    }
    for (const p of queryPanels(d)) {
      for (const t of p.targets ?? []) {
        const where = `${p.title} ${t.refId}`
        checkSelectors(where, t.expr, problems)
        for (const r of ranges(t.expr)) {
          if (r !== '[$__rate_interval]') problems.push(`${where}: range ${r}, use [$__rate_interval]`)
        }
        if (/\b(rate|increase|irate)\(/.test(t.expr) && !t.expr.includes('[$__rate_interval]')) {
          problems.push(`${where}: rate without $__rate_interval`)
        }
      }
    }
    assert.deepEqual(problems, [])
  })

  test(`${d.title}: every panel has a unit, a description of what is bad and what to do, and queries`, () => {
    const panels = queryPanels(d)
    assert.ok(panels.length >= 4)
    const ids = new Set<number>()
    for (const p of d.panels) {
      assert.ok(!ids.has(p.id), `duplicate panel id ${p.id}`)
      ids.add(p.id)
    }
    for (const p of panels) {
      assert.ok(p.fieldConfig?.defaults?.unit, `${p.title}: no unit`)
      assert.ok((p.description ?? '').length >= 100, `${p.title}: description too short`)
      assert.match(
        p.description ?? '',
        /Bad: .+ Do: /,
        `${p.title}: description must say what is bad and what to do`,
      )
      assert.ok((p.targets ?? []).length > 0, `${p.title}: no query`)
      const refIds = (p.targets ?? []).map((t) => t.refId)
      assert.equal(new Set(refIds).size, refIds.length, `${p.title}: duplicate refId`)
    }
  })
}

test('the three dashboards show what the issue lists', () => {
  const titles = (d: DashboardJson) => queryPanels(d).map((p) => p.title)
  const [overview, mailboxes, load] = dashboards as [DashboardJson, DashboardJson, DashboardJson]
  const exprs = (d: DashboardJson) => queryPanels(d).flatMap((p) => (p.targets ?? []).map((t) => t.expr))
  assert.ok(titles(overview).includes('Pressure level'))
  assert.equal(queryPanels(overview).find((p) => p.title === 'Pressure level')?.type, 'state-timeline')
  const assertShows = (d: DashboardJson, what: string, names: readonly string[]) => {
    for (const name of names)
      assert.ok(
        exprs(d).some((e) => e.includes(`${name}{`)),
        `${what} shows ${name}`,
      )
  }
  assertShows(overview, 'overview', [
    'beamline_pressure_level_peak',
    'beamline_pressure_score_peak',
    'beamline_pressure_gc_ratio',
    'beamline_pressure_event_loop_delay_p99_seconds',
    'beamline_pressure_queued_messages',
    'beamline_shed_total',
    'beamline_mailbox_queued_messages_peak',
    'beamline_mailbox_longest_peak',
    'beamline_v8js_gc_time_ratio',
    'beamline_nodejs_eventloop_delay_p99_seconds',
    'beamline_v8js_memory_heap_used_bytes',
    'beamline_target_up',
  ])
  for (const w of ['1s', '10s', '100s']) {
    assert.ok(
      mailboxes.templating.list.find((v) => v.name === 'window')?.options?.some((o) => o.value === w),
      `window ${w}`,
    )
  }
  for (const direction of ['enqueued', 'dequeued', 'dropped']) {
    assert.ok(exprs(mailboxes).some((e) => e.includes(`direction="${direction}",window="$window"`)))
  }
  assert.ok(
    exprs(mailboxes).some((e) => e.includes('sum by (group, reason) (rate(beamline_mailbox_dropped_total')),
  )
  assert.ok(queryPanels(mailboxes).some((p) => p.type === 'table' && p.title === 'Top groups'))
  assertShows(load, 'load protection', [
    'beamline_semaphore_in_use_peak',
    'beamline_semaphore_max',
    'beamline_semaphore_waiting_peak',
    'beamline_semaphore_acquired_total',
    'beamline_semaphore_rejected_total',
    'beamline_undici_requests_total',
    'beamline_undici_queued',
    'beamline_undici_throttle_probability',
    'beamline_undici_limit',
    // The "Concurrency limits" row (issue 17): limit against in-flight, queue time, refusals by outcome.
    'beamline_limit_limit',
    'beamline_limit_in_flight',
    'beamline_limit_min_limit',
    'beamline_limit_queue_time_seconds_total',
    'beamline_limit_requests_total',
    'beamline_limit_completed_total',
    'beamline_limit_min_rtt_seconds',
    'beamline_limit_queued',
  ])
})

test('the Overview has a fleet row over the recording rules, and a drill-down from a pod to its Overview', () => {
  const overview = dashboards.find((d) => d.uid === 'beamline-overview')!
  const rowAt = overview.panels.findIndex((p) => p.type === 'row' && p.title === 'Fleet')
  assert.ok(rowAt > 0, 'a Fleet row')
  const next = overview.panels.findIndex((p, i) => i > rowAt && p.type === 'row')
  const fleet = overview.panels.slice(rowAt + 1, next < 0 ? undefined : next)
  const titles = fleet.map((p) => p.title)
  for (const t of ['Pods by pressure level', 'Top pods by queued messages']) assert.ok(titles.includes(t), t)
  // The fleet panels read recorded series (one per pod or per service), apart from the up/down count.
  for (const p of fleet.filter((p) => p.title !== 'Targets and sidecars down')) {
    for (const t of p.targets ?? [])
      assert.ok(
        metricSelectors(t.expr).some((s) => RECORDED_BY_NAME.has(s.metric)),
        `${p.title}: ${t.expr} reads no recorded series`,
      )
  }
  const top = fleet.find((p) => p.title === 'Top pods by queued messages')!
  assert.equal(top.type, 'table')
  const links = (top.fieldConfig?.defaults as { links?: Array<{ url: string }> } | undefined)?.links ?? []
  assert.equal(links.length, 1)
  const url = new URL(links[0]!.url, 'http://grafana')
  const uid = /^\/d\/([\w-]+)\//.exec(url.pathname)?.[1]
  const target = dashboards.find((d) => d.uid === uid)
  assert.ok(target, `the drill-down opens a dashboard of this folder: ${url.pathname}`)
  const variables = new Set(target.templating.list.map((v) => v.name))
  // Each row's own service and instance (labels every query of the table keeps), the rest kept.
  for (const field of ['instance', 'service'])
    assert.equal(url.searchParams.get(`var-${field}`), `\${__data.fields.${field}}`)
  for (const v of ['datasource', 'job']) assert.ok(links[0]!.url.includes(`\${${v}:queryparam}`), v)
  assert.ok(links[0]!.url.includes(`\${__url_time_range}`))
  for (const name of ['instance', 'service', 'datasource', 'job']) assert.ok(variables.has(name), name)
  for (const t of top.targets ?? []) {
    for (const { metric } of metricSelectors(t.expr)) {
      const labels = RECORDED_BY_NAME.get(metric)?.labels ?? []
      assert.ok(
        labels.includes('service') && labels.includes('instance'),
        `${metric} keeps service and instance`,
      )
    }
  }
})
