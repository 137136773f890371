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

## Runtime metrics and the peers that report them

The runtime metrics (\`beamline_nodejs_eventloop_*\`, \`beamline_v8js_*\`, \`beamline_process_memory_usage_bytes\`)
come from one sampler per thread in \`@beamline/core\`, which the pressure monitor reads too: one
event-loop-delay histogram (10 ms resolution, one-second windows rotated on a timer, never on a read,
so any number of scrapers see the same value) and one GC observer. A service needs nothing else for
them. Where a peer already reports the same meaning, \`promCollector(registry, sources, { runtime: false })\`
or \`otelInstruments(meter, sources, { runtime: false })\` leaves them out:

| beamline | prom-client \`collectDefaultMetrics\` | \`@opentelemetry/instrumentation-runtime-node\` |
| --- | --- | --- |
| \`beamline_nodejs_eventloop_delay_{min,max,mean,stddev,p50,p90,p99}_seconds\`, last complete 1 s window | \`nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds\`: same histogram, but reset at every collection, so it covers the time since the previous scrape and two scrapers (an HA pair) each see half | \`nodejs.eventloop.delay.*\` (s), over its own collection interval |
| \`beamline_nodejs_eventloop_utilization\` | — | \`nodejs.eventloop.utilization\` |
| \`beamline_v8js_gc_duration_seconds_total{gc_type}\`, \`beamline_v8js_gc_collections_total{gc_type}\` | \`nodejs_gc_duration_seconds{kind}\` histogram (its \`_sum\` and \`_count\`) | \`v8js.gc.duration\` histogram by \`v8js.gc.type\` |
| \`beamline_v8js_memory_heap_{used,limit}_bytes{heap_space}\`, \`beamline_v8js_heap_space_{available,physical}_size_bytes\` | \`nodejs_heap_space_size_{used,total,available}_bytes{space}\` | \`v8js.memory.heap.*\` by \`v8js.heap.space.name\` |
| \`beamline_process_memory_usage_bytes\` | \`process_resident_memory_bytes\` | — (host metrics) |

The pressure monitor's signals are exported one metric per signal, each in one unit
(\`beamline_pressure_*\`). \`beamline_pressure_event_loop_delay_p99_seconds\` is the value the monitor
decides on — the largest p99 of the histogram's window in progress over its \`windowMs\` — so it
reacts within a sample where \`beamline_nodejs_eventloop_delay_p99_seconds\` describes the last
complete second.

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
