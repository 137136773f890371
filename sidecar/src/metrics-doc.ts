import { METRICS, PEAK_METRICS, SIDECAR_METRICS, servedLabels } from './metric-names.js'

const DERIVED = new Set([...PEAK_METRICS.values(), ...Object.values(SIDECAR_METRICS)])

/** docs/metrics.md, generated from the catalogue (a test keeps the file in step). */
export function renderMetricsDoc(): string {
  const row = (d: (typeof METRICS)[number]) =>
    `| \`${d.name}\` | ${d.type} | ${
      servedLabels(d)
        .map((l) => `\`${l}\``)
        .join(', ') || '—'
    } | ${d.unit || '—'} | \`${d.otel.name}\` (${d.otel.unit}) | ${d.help} |`
  const header =
    '| metric | type | labels | unit | OpenTelemetry | meaning |\n| --- | --- | --- | --- | --- | --- |'
  return `# Metric reference

<!-- Generated from sidecar/src/metric-names.ts by sidecar/test/metric-names.test.ts; do not edit by hand.
     Regenerate: BEAMLINE_WRITE_DOCS=1 node --test sidecar/dist/test/metric-names.test.js -->

Every metric the sidecar serves on \`/metrics\` and pushes by OTLP. Metrics read from a target carry
\`service\` and \`instance\` (\`service.name\` and \`service.instance.id\` in OTLP); in-process
collectors (\`promCollector\`, \`otelInstruments\` of \`@beamline/exporter\`) register the snapshot
metrics without those two labels, which Prometheus adds as target labels. Per-mailbox names never
become labels; the top-N mailboxes are in \`/api/v1/snapshot\`.

## Read from each snapshot

${header}
${METRICS.filter((d) => !DERIVED.has(d))
  .map(row)
  .join('\n')}

## Computed by the sidecar

Rates use the services' own clocks (the snapshot's \`time\`) and survive counter resets. A \`_peak\`
gauge holds the highest value the polls saw over the trailing \`--peak-window\` (30 s by default), on
the service's clock: a 15 s scrape still sees a 1 s spike, and every reader (an HA pair of Prometheus
servers, the OTLP push) sees the same value, since no read resets anything.

Everything named \`_total\` only increases, except when the process that owns it restarts, which shows
as a new \`beamline_process_start_time_seconds\` (\`beamline_sidecar_start_time_seconds\` for the
sidecar's own counters); in OTLP, as a new start time of the cumulative sums. A target whose poll fails
stops being served at once (staleness); \`beamline_target_up\` says 0 and why is in \`/api/v1/targets\`.

${header}
${METRICS.filter((d) => DERIVED.has(d))
  .map(row)
  .join('\n')}
`
}
