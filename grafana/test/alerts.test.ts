/*
 * The alert rules: valid for promtool, each alert's unit tests pass (every test file case has a series
 * that must fire and series that must not), every metric exists in the metric-name module, and every
 * alert carries a severity, a summary, a description and a runbook anchor that exists in
 * docs/operations.md.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { PROMETHEUS_UP } from '@beamline/grafana'
import { METRICS } from '@beamline/sidecar'
import { parse } from 'yaml'
import { GRAFANA_DIR, metricSelectors, prometheusTool, REPO_DIR } from './helpers.js'

const ALERTS_DIR = join(GRAFANA_DIR, 'alerts')
const RULES = join(ALERTS_DIR, 'beamline-rules.yml')

interface Rule {
  alert: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap(
  (g) => g.rules,
)

function promtool(bin: string, ...args: string[]) {
  const r = spawnSync(bin, args, { cwd: ALERTS_DIR, encoding: 'utf8', timeout: 30_000 })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

test('promtool check rules accepts beamline-rules.yml', (t) => {
  const bin = prometheusTool(t, 'promtool')
  if (!bin) return
  const r = promtool(bin, 'check', 'rules', 'beamline-rules.yml')
  assert.equal(r.status, 0, r.output)
  assert.match(r.output, new RegExp(`SUCCESS: ${rules.length} rules found`))
})

test('promtool test rules: each alert fires when it should and not when it should not', (t) => {
  const bin = prometheusTool(t, 'promtool')
  if (!bin) return
  const r = promtool(bin, 'test', 'rules', 'beamline-rules.test.yml')
  assert.equal(r.status, 0, r.output)
  assert.match(r.output, /SUCCESS/)
  // Every alert has a unit test with an expected firing and an expected silence.
  const tests = (
    parse(readFileSync(join(ALERTS_DIR, 'beamline-rules.test.yml'), 'utf8')) as {
      tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>
    }
  ).tests.flatMap((x) => x.alert_rule_test)
  for (const rule of rules) {
    const cases = tests.filter((c) => c.alertname === rule.alert)
    assert.ok(
      cases.some((c) => c.exp_alerts.length > 0),
      `${rule.alert}: no case where it fires`,
    )
    assert.ok(
      cases.some((c) => c.exp_alerts.length === 0),
      `${rule.alert}: no case where it stays silent`,
    )
  }
})

test('the rules cover what the issue asks and use only metrics of the metric-name module', () => {
  const names = new Set(METRICS.map((d) => d.name))
  for (const alert of [
    'BeamlineSustainedShedding',
    'BeamlineMailboxGrowing',
    'BeamlineSemaphoreSaturated',
    'BeamlineLimitAtMinimum',
    'BeamlineTargetDown',
  ]) {
    assert.ok(
      rules.some((r) => r.alert === alert),
      alert,
    )
  }
  for (const rule of rules) {
    for (const { metric } of metricSelectors(rule.expr)) {
      assert.ok(names.has(metric) || metric === PROMETHEUS_UP, `${rule.alert}: ${metric}`)
    }
  }
})

test('every alert has a severity, a summary, a description and a runbook section in docs/operations.md', () => {
  const doc = readFileSync(join(REPO_DIR, 'docs', 'operations.md'), 'utf8')
  // GitHub's heading anchors: lower case, spaces to '-', punctuation dropped.
  const anchors = new Set(
    [...doc.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  )
  for (const rule of rules) {
    assert.match(rule.labels?.severity ?? '', /^(warning|critical)$/, rule.alert)
    assert.ok(rule.for, `${rule.alert}: no \`for\`: one bad sample would page`)
    assert.ok(rule.annotations?.summary && rule.annotations.description, rule.alert)
    const runbook = rule.annotations?.runbook ?? ''
    assert.equal(runbook, `docs/operations.md#${rule.alert.toLowerCase()}`, rule.alert)
    assert.ok(
      anchors.has(rule.alert.toLowerCase()),
      `${rule.alert}: no "## ${rule.alert}" section in docs/operations.md`,
    )
  }
})
