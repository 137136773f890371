/**
 * Every metric the sidecar serves: the single list that /metrics, docs/metrics.md (checked by a test)
 * and the Grafana dashboards are checked against. Snapshot metrics come from @beamline/exporter, which
 * the in-process collectors share; the rest are computed here from successive polls.
 */
import { metric as def, type MetricDef, SNAPSHOT_METRICS } from '@beamline/exporter'

export type { MetricDef }
export { SNAPSHOT_METRICS }

/** Labels every metric read from a target carries, before its own. */
export const TARGET_LABELS = ['service', 'instance'] as const

/** Windows the rates are computed over, in seconds, as their `window` label values. */
export const RATE_WINDOWS = [
  { label: '1s', seconds: 1 },
  { label: '10s', seconds: 10 },
  { label: '100s', seconds: 100 },
] as const

const S = SNAPSHOT_METRICS

/**
 * Gauges whose highest value over the trailing `--peak-window` (30 s by default) of polls is also
 * served, as `<name>_peak`: a spike between two scrapes still shows, and every reader sees the same.
 */
export const PEAKED: readonly MetricDef[] = [
  S.mailboxQueued,
  S.mailboxLongest,
  S.semaphoreInUse,
  S.semaphoreWaiting,
  S.pressureLevel,
  S.pressureScore,
  S.eventLoopDelayMax,
]

function peakOf(d: MetricDef): MetricDef {
  const name = d.unit === 'seconds' ? `${d.name.replace(/_seconds$/, '')}_peak_seconds` : `${d.name}_peak`
  return def(
    name,
    'gauge',
    d.labels,
    d.unit,
    [`${d.otel.name}.peak`, d.otel.unit],
    `Highest value of ${d.name} in the sidecar's polls over the trailing --peak-window (default 30 s).`,
  )
}

/** Metrics the sidecar derives from successive polls, and its own health. */
export const SIDECAR_METRICS = {
  mailboxRate: def(
    'beamline_mailbox_rate',
    'gauge',
    ['group', 'direction', 'window'],
    'messages_per_second',
    ['beamline.mailbox.rate', '{message}/s'],
    'Messages per second over the window (1s, 10s, 100s), by direction (enqueued, dequeued, dropped), WhatsApp message_queue_stats style.',
  ),
  semaphoreRate: def(
    'beamline_semaphore_rate',
    'gauge',
    ['semaphore', 'outcome', 'window'],
    'per_second',
    ['beamline.semaphore.rate', '{acquisition}/s'],
    'Acquisitions per second over the window, by outcome (acquired, rejected).',
  ),
  channelRate: def(
    'beamline_channel_rate',
    'gauge',
    ['channel', 'direction', 'window'],
    'per_second',
    ['beamline.channel.rate', '{frame}/s'],
    'Frames per second over the window, by direction (sent, received, refused: trySend() on a full channel).',
  ),
  gcTimeRatio: def(
    'beamline_v8js_gc_time_ratio',
    'gauge',
    ['window'],
    'ratio',
    ['beamline.v8js.gc.time_ratio', '1'],
    'Fraction of wall time spent in garbage collection over the window.',
  ),
  targetUp: def(
    'beamline_target_up',
    'gauge',
    ['target'],
    '',
    ['beamline.target.up', '1'],
    '1 if the last poll of the target returned a valid snapshot, else 0 (reason in /api/v1/targets).',
  ),
  targetPollDuration: def(
    'beamline_target_poll_duration_seconds',
    'gauge',
    ['target'],
    'seconds',
    ['beamline.target.poll.duration', 's'],
    'How long the last poll of the target took.',
  ),
  seriesDropped: def(
    'beamline_sidecar_series_dropped_total',
    'counter',
    [],
    '',
    ['beamline.sidecar.series.dropped', '{series}'],
    'Series left out of a poll because the series limit (--max-series) was reached, counted at each such poll.',
  ),
  seriesExpired: def(
    'beamline_sidecar_series_expired_total',
    'counter',
    [],
    '',
    ['beamline.sidecar.series.expired', '{series}'],
    'Rate and peak histories forgotten: their series was not reported for the TTL (--ttl-ms), or their room was needed under --max-series.',
  ),
  series: def(
    'beamline_sidecar_series',
    'gauge',
    [],
    '',
    ['beamline.sidecar.series', '{series}'],
    'Series served for the targets now (the targets that are up).',
  ),
  collisions: def(
    'beamline_sidecar_collisions_total',
    'counter',
    ['kind'],
    '',
    ['beamline.sidecar.collisions', '{collision}'],
    'Collisions kept apart or left out: kind instance (two targets report one service and instance; served as instance@target), series (a snapshot names one series twice; the first is served).',
  ),
  targets: def(
    'beamline_sidecar_targets',
    'gauge',
    [],
    '',
    ['beamline.sidecar.targets', '{target}'],
    'Targets being polled.',
  ),
  polls: def(
    'beamline_sidecar_polls_total',
    'counter',
    ['outcome'],
    '',
    ['beamline.sidecar.polls', '{poll}'],
    'Polls of targets, by outcome (ok, error).',
  ),
  pollErrors: def(
    'beamline_sidecar_poll_errors_total',
    'counter',
    ['reason'],
    '',
    ['beamline.sidecar.poll.errors', '{poll}'],
    'Failed polls by reason: timeout, network, http_status, too_large, invalid_json, invalid_snapshot (the snapshot refused), unsupported_version (a snapshot schema major version this sidecar does not read).',
  ),
  pollCycleDuration: def(
    'beamline_sidecar_poll_cycle_duration_seconds',
    'gauge',
    [],
    'seconds',
    ['beamline.sidecar.poll_cycle.duration', 's'],
    'Wall time of the last poll cycle, from the first request to the last answer or timeout.',
  ),
  cpu: def(
    'beamline_sidecar_cpu_seconds_total',
    'counter',
    [],
    'seconds',
    ['beamline.sidecar.cpu', 's'],
    'CPU time the sidecar process used, user plus system.',
  ),
  startTime: def(
    'beamline_sidecar_start_time_seconds',
    'gauge',
    [],
    'seconds',
    ['beamline.sidecar.start_time', 's'],
    'When the sidecar started, seconds since the Unix epoch: its beamline_sidecar_* counters restart from 0 then.',
  ),
} as const satisfies Record<string, MetricDef>

export const PEAK_METRICS: ReadonlyMap<MetricDef, MetricDef> = new Map(PEAKED.map((d) => [d, peakOf(d)]))

/** Labels of a metric as served, in order: target labels first for metrics read from a target. */
export function servedLabels(d: MetricDef): readonly string[] {
  return SELF_METRICS.has(d) ? d.labels : [...TARGET_LABELS, ...d.labels]
}

/** The sidecar's own metrics: no `service` and `instance` labels, and its own resource in OTLP. */
export const SELF_METRICS: ReadonlySet<MetricDef> = new Set<MetricDef>([
  SIDECAR_METRICS.targetUp,
  SIDECAR_METRICS.targetPollDuration,
  SIDECAR_METRICS.seriesDropped,
  SIDECAR_METRICS.seriesExpired,
  SIDECAR_METRICS.series,
  SIDECAR_METRICS.collisions,
  SIDECAR_METRICS.targets,
  SIDECAR_METRICS.polls,
  SIDECAR_METRICS.pollErrors,
  SIDECAR_METRICS.pollCycleDuration,
  SIDECAR_METRICS.cpu,
  SIDECAR_METRICS.startTime,
])

/** Every metric /metrics can serve, in the order it serves them. */
export const METRICS: readonly MetricDef[] = [
  ...Object.values(SNAPSHOT_METRICS),
  ...PEAK_METRICS.values(),
  ...Object.values(SIDECAR_METRICS),
]
