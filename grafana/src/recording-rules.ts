/**
 * Recording rules for the fleet: what a dashboard showing hundreds of pods would otherwise compute
 * from every raw series at each refresh. Written here, in TypeScript, so that their inputs come from
 * the sidecar's metric-name module (a renamed metric breaks the build, not a rule) and the
 * dashboards name their outputs through the same objects; `npm run dashboards` writes them to
 * grafana/alerts/beamline-recording-rules.yml, which a test keeps equal to this module.
 *
 * Names follow Prometheus' `level:metric:operations` convention. Every rule keeps `job`, so the
 * dashboards' job filter still applies, and aggregates in two steps where it can: per pod
 * (`instance:`) from the raw series, then per service from the per-pod results, so each raw series
 * is read by one rule. Rates are taken before sums (a restarted process resets its own counters,
 * which `rate` absorbs; a sum of counters would go back).
 */
import { type MetricDef, SNAPSHOT_METRICS as S } from '@beamline/sidecar'
import { peak } from './selectors.js'

/** A series the rules record: its name and the labels it keeps. */
export interface RecordedDef {
  readonly name: string
  readonly labels: readonly string[]
  /** What it holds, for the generated file's comments and the docs. */
  readonly help: string
}

export interface RecordingRule {
  readonly record: RecordedDef
  readonly expr: string
}

/** Rate window of the recorded rates: four scrapes at the common 15 s interval. */
export const RECORDED_RATE_WINDOW = '1m'

const POD = ['job', 'service', 'instance'] as const
const SERVICE = ['job', 'service'] as const

function recorded(name: string, labels: readonly string[], help: string): RecordedDef {
  return { name, labels, help }
}

const by = (labels: readonly string[]) => `by (${labels.join(', ')})`
const rate = (d: MetricDef, matchers = '') =>
  `rate(${d.name}${matchers ? `{${matchers}}` : ''}[${RECORDED_RATE_WINDOW}])`

/** The recorded series, by what dashboards and docs call them. */
export const RECORDED = {
  podShedRate: recorded(
    'instance:beamline_shed:rate1m',
    POD,
    'Requests shed per second by each process (all routes and reasons), over 1 minute.',
  ),
  podEnqueuedRate: recorded(
    'instance:beamline_mailbox_enqueued:rate1m',
    POD,
    'Messages admitted into the mailboxes of each process per second (all groups), over 1 minute.',
  ),
  podQueued: recorded(
    'instance:beamline_mailbox_queued_messages:sum',
    POD,
    'Messages waiting in all mailboxes of each process (sum over its groups).',
  ),
  podQueuedPeak: recorded(
    'instance:beamline_mailbox_queued_messages_peak:sum',
    POD,
    'Sum over the groups of each process of their highest queued count in the sidecar’s --peak-window.',
  ),
  podLongestPeak: recorded(
    'instance:beamline_mailbox_longest_peak:max',
    POD,
    'Longest single mailbox of each process in the sidecar’s --peak-window.',
  ),
  podLevelPeak: recorded(
    'instance:beamline_pressure_level_peak:max',
    POD,
    'Highest pressure level of each process in the sidecar’s --peak-window (0 ok, 1 throttle, 2 shed).',
  ),
  serviceShedRate: recorded(
    'service:beamline_shed:rate1m',
    SERVICE,
    'Requests shed per second by all processes of the service, over 1 minute.',
  ),
  routeShedRate: recorded(
    'service_route:beamline_shed:rate1m',
    [...SERVICE, 'route'],
    'Requests shed per second by all processes of the service, per route, over 1 minute.',
  ),
  serviceEnqueuedRate: recorded(
    'service:beamline_mailbox_enqueued:rate1m',
    SERVICE,
    'Messages admitted into mailboxes per second by all processes of the service, over 1 minute.',
  ),
  semaphoreAcquiredRate: recorded(
    'service_semaphore:beamline_semaphore_acquired:rate1m',
    [...SERVICE, 'semaphore'],
    'Permits granted per second by each semaphore, all processes of the service, over 1 minute.',
  ),
  semaphoreRejectedRate: recorded(
    'service_semaphore:beamline_semaphore_rejected:rate1m',
    [...SERVICE, 'semaphore'],
    'Acquisitions refused per second by each semaphore, all processes of the service, over 1 minute.',
  ),
  originAdmittedRate: recorded(
    'service_origin:beamline_undici_admitted:rate1m',
    [...SERVICE, 'origin'],
    'Outbound requests admitted per second by the bulkheads of each origin, all processes of the service, over 1 minute.',
  ),
  serviceQueued: recorded(
    'service:beamline_mailbox_queued_messages:sum',
    SERVICE,
    'Messages waiting in all mailboxes of all processes of the service.',
  ),
  serviceLongestPeak: recorded(
    'service:beamline_mailbox_longest_peak:max',
    SERVICE,
    'Longest single mailbox of any process of the service in the sidecar’s --peak-window.',
  ),
  serviceLevelPods: recorded(
    'service_level:beamline_pressure_level_peak:count',
    [...SERVICE, 'level'],
    'Processes of the service at each pressure level ("0", "1", "2") in the sidecar’s --peak-window; a level no process is at has no series.',
  ),
  limitUtilisation: recorded(
    'service_limit:beamline_limit_utilisation:ratio',
    [...SERVICE, 'limit'],
    'Tokens in flight over the current adaptive limit, all processes of the service, per limit: near 1, every process admits at its limit and the excess waits or is refused.',
  ),
} as const satisfies Record<string, RecordedDef>

const R = RECORDED

/** The groups of grafana/alerts/beamline-recording-rules.yml, in evaluation order. */
export const RECORDING_GROUPS: ReadonlyArray<{ name: string; rules: readonly RecordingRule[] }> = [
  {
    // Rules of a group run in order at one timestamp, so the per-service rules below read the
    // per-pod results of the same evaluation.
    name: 'beamline-fleet',
    rules: [
      { record: R.podShedRate, expr: `sum ${by(POD)} (${rate(S.shed)})` },
      { record: R.podEnqueuedRate, expr: `sum ${by(POD)} (${rate(S.mailboxEnqueued)})` },
      { record: R.podQueued, expr: `sum ${by(POD)} (${S.mailboxQueued.name})` },
      { record: R.podQueuedPeak, expr: `sum ${by(POD)} (${peak(S.mailboxQueued).name})` },
      { record: R.podLongestPeak, expr: `max ${by(POD)} (${peak(S.mailboxLongest).name})` },
      { record: R.podLevelPeak, expr: `max ${by(POD)} (${peak(S.pressureLevel).name})` },
      { record: R.serviceShedRate, expr: `sum ${by(SERVICE)} (${R.podShedRate.name})` },
      { record: R.routeShedRate, expr: `sum ${by(R.routeShedRate.labels)} (${rate(S.shed)})` },
      { record: R.serviceEnqueuedRate, expr: `sum ${by(SERVICE)} (${R.podEnqueuedRate.name})` },
      {
        record: R.semaphoreAcquiredRate,
        expr: `sum ${by(R.semaphoreAcquiredRate.labels)} (${rate(S.semaphoreAcquired)})`,
      },
      {
        record: R.semaphoreRejectedRate,
        expr: `sum ${by(R.semaphoreRejectedRate.labels)} (${rate(S.semaphoreRejected)})`,
      },
      {
        record: R.originAdmittedRate,
        expr: `sum ${by(R.originAdmittedRate.labels)} (${rate(S.undiciRequests, 'outcome="admitted"')})`,
      },
      { record: R.serviceQueued, expr: `sum ${by(SERVICE)} (${R.podQueued.name})` },
      { record: R.serviceLongestPeak, expr: `max ${by(SERVICE)} (${R.podLongestPeak.name})` },
      {
        record: R.serviceLevelPods,
        expr: `count_values ${by(SERVICE)} ("level", ${R.podLevelPeak.name})`,
      },
      {
        record: R.limitUtilisation,
        expr: `sum ${by(R.limitUtilisation.labels)} (${S.limitInFlight.name}) / sum ${by(R.limitUtilisation.labels)} (${S.limitLimit.name})`,
      },
    ],
  },
]

/** Every recorded series, in rule order. */
export const RECORDED_SERIES: readonly RecordedDef[] = RECORDING_GROUPS.flatMap((g) =>
  g.rules.map((r) => r.record),
)

/** The text of grafana/alerts/beamline-recording-rules.yml. */
export function recordingRulesYaml(): string {
  const lines = [
    '# Prometheus recording rules for fleets of services instrumented with beamline, scraped through',
    '# the sidecar. Generated from grafana/src/recording-rules.ts by `npm run dashboards`; do not edit.',
    '# Load next to beamline-rules.yml (`rule_files`); unit tests: beamline-recording-rules.test.yml.',
    '# The Beamline / Overview dashboard\'s "Fleet" row reads these series.',
    'groups:',
  ]
  for (const group of RECORDING_GROUPS) {
    lines.push(`  - name: ${group.name}`, '    rules:')
    for (const { record, expr } of group.rules) {
      lines.push(`      # ${record.help}`, `      - record: ${record.name}`, `        expr: ${quote(expr)}`)
    }
  }
  return `${lines.join('\n')}\n`
}

/** A YAML double-quoted scalar (JSON string syntax is valid YAML). */
function quote(s: string): string {
  return JSON.stringify(s)
}
