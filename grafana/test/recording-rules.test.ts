/*
 * The recording rules: valid for promtool, each recorded series checked by a `promtool test rules`
 * case, inputs only from the sidecar's metric-name module (or earlier recorded series), every rule
 * keeping `job` (the dashboards filter on it), and every file `npm run dashboards` writes — the rule
 * file and the Kubernetes PrometheusRule among them — equal to what the TypeScript generates.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { GENERATED_FILES, RECORDED_SERIES, RECORDING_GROUPS } from '@beamline/grafana'
import { METRICS } from '@beamline/sidecar'
import { parse } from 'yaml'
import { GRAFANA_DIR, metricSelectors, prometheusTool, REPO_DIR } from './helpers.js'

const ALERTS_DIR = join(GRAFANA_DIR, 'alerts')

function promtool(bin: string, ...args: string[]) {
  const r = spawnSync(bin, args, { cwd: ALERTS_DIR, encoding: 'utf8', timeout: 30_000 })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

test('every file npm run dashboards writes is current (run `npm run dashboards` after a change)', () => {
  for (const f of GENERATED_FILES) {
    assert.equal(
      readFileSync(join(REPO_DIR, f.path), 'utf8'),
      f.text(),
      `${f.path} is stale: run npm run dashboards`,
    )
  }
})

test('promtool check rules accepts beamline-recording-rules.yml', (t) => {
  const bin = prometheusTool(t, 'promtool')
  if (!bin) return
  const r = promtool(bin, 'check', 'rules', 'beamline-recording-rules.yml')
  assert.equal(r.status, 0, r.output)
  assert.match(r.output, new RegExp(`SUCCESS: ${RECORDED_SERIES.length} rules found`))
})

test('promtool test rules: each recorded series has its expected values, a counter reset included', (t) => {
  const bin = prometheusTool(t, 'promtool')
  if (!bin) return
  const r = promtool(bin, 'test', 'rules', 'beamline-recording-rules.test.yml')
  assert.equal(r.status, 0, r.output)
  assert.match(r.output, /SUCCESS/)
  const tested = new Set(
    (
      parse(readFileSync(join(ALERTS_DIR, 'beamline-recording-rules.test.yml'), 'utf8')) as {
        tests: Array<{ promql_expr_test: Array<{ expr: string; exp_samples: unknown[] }> }>
      }
    ).tests.flatMap((x) => x.promql_expr_test.filter((c) => c.exp_samples.length > 0).map((c) => c.expr)),
  )
  for (const s of RECORDED_SERIES) assert.ok(tested.has(s.name), `${s.name}: no promql_expr_test`)
})

test('the rules read only metrics of the metric-name module or series recorded before them, and keep job', () => {
  const names = new Set(METRICS.map((d) => d.name))
  const recorded = new Set<string>()
  for (const group of RECORDING_GROUPS) {
    for (const { record, expr } of group.rules) {
      for (const { metric } of metricSelectors(expr))
        assert.ok(names.has(metric) || recorded.has(metric), `${record.name} reads ${metric}`)
      assert.ok(record.labels.includes('job'), `${record.name} drops job`)
      assert.match(record.name, /^[a-z_]+:beamline_[a-z_]+:[a-z0-9_]+$/, 'level:metric:operations')
      recorded.add(record.name)
    }
  }
})
