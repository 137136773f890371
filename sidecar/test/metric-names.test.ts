/** The catalogue is well formed and docs/metrics.md is generated from it. */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { it } from 'node:test'
import { METRICS, servedLabels } from '../src/index.js'
import { renderMetricsDoc } from '../src/metrics-doc.js'

const DOC = new URL('../../../docs/metrics.md', import.meta.url)

it('names every metric by the Prometheus conventions', () => {
  const names = new Set<string>()
  const otelNames = new Set<string>()
  for (const m of METRICS) {
    assert.match(m.name, /^beamline_[a-z0-9_]+$/)
    assert.ok(!names.has(m.name), `${m.name} is unique`)
    names.add(m.name)
    assert.ok(!otelNames.has(m.otel.name), `${m.otel.name} is unique`)
    otelNames.add(m.otel.name)
    assert.equal(
      m.name.endsWith('_total'),
      m.type === 'counter',
      `${m.name}: counters and only counters end in _total`,
    )
    if (m.unit === 'seconds' || m.unit === 'bytes')
      assert.match(m.name, new RegExp(`_${m.unit}(_total)?$`), `${m.name} ends in its unit`)
    for (const l of servedLabels(m)) assert.match(l, /^[a-z_][a-z0-9_]*$/)
    assert.ok(m.help.length > 10)
  }
  for (const core of [
    'beamline_mailbox_queued_messages',
    'beamline_mailbox_nonempty',
    'beamline_mailbox_longest',
    'beamline_mailbox_enqueued_total',
    'beamline_mailbox_dequeued_total',
    'beamline_mailbox_dropped_total',
    'beamline_mailbox_rate',
    'beamline_semaphore_in_use',
    'beamline_semaphore_max',
    'beamline_semaphore_waiting',
    'beamline_semaphore_acquired_total',
    'beamline_semaphore_rejected_total',
    'beamline_pressure_level',
    'beamline_pressure_score',
    'beamline_pressure_queued_messages',
    'beamline_pressure_longest_queue_messages',
    'beamline_pressure_gc_ratio',
    'beamline_pressure_event_loop_delay_p99_seconds',
    'beamline_pressure_event_loop_utilization_ratio',
    'beamline_pressure_heap_used_ratio',
    'beamline_shed_total',
    'beamline_ring_nodes',
    'beamline_target_up',
    'beamline_sidecar_series_dropped_total',
    'beamline_mailbox_queued_messages_peak',
  ]) {
    assert.ok(names.has(core), `${core} is in the catalogue`)
  }
  // Renamed (issue 16): one metric per pressure signal, each in one unit, instead of a `signal` label.
  assert.ok(!names.has('beamline_pressure_signal'), 'beamline_pressure_signal is gone')
})

it('gives every metric its own OpenMetrics family', () => {
  // OpenMetrics names a counter's family without `_total` and reserves the suffixes of other types'
  // samples: a counter `x_total` beside a gauge `x` is one family with two HELP lines (issue 20 #5).
  const families = new Map<string, string>()
  for (const m of METRICS) {
    const family = m.type === 'counter' ? m.name.replace(/_total$/, '') : m.name
    assert.ok(!families.has(family), `${m.name} and ${families.get(family)} are one family`)
    families.set(family, m.name)
    assert.doesNotMatch(family, /_(created|count|sum|bucket|gcount|gsum|info)$/, `${m.name}: reserved suffix`)
  }
})

it('docs/metrics.md is generated from the catalogue', () => {
  const expected = renderMetricsDoc()
  if (process.env['BEAMLINE_WRITE_DOCS'] === '1') writeFileSync(DOC, expected)
  assert.equal(
    readFileSync(DOC, 'utf8'),
    expected,
    'docs/metrics.md is stale: regenerate it (see the comment at its top)',
  )
})
