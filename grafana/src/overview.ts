/**
 * Beamline / Overview: is any instance about to fall over, and why. Pressure first (the level the
 * services act on, and the signals behind it), then what they shed, their queues and their runtime.
 */
import { SNAPSHOT_METRICS as S, SIDECAR_METRICS as X } from '@beamline/sidecar'
import { beamlineDashboard } from './dashboard.js'
import { GREEN, RED, states, stateTimelinePanel, tablePanel, timeseriesPanel, YELLOW } from './panels.js'
import { RECORDED } from './recording-rules.js'
import { PROMETHEUS_UP, peak, rate, recordedSel, sel } from './selectors.js'

const BY_INSTANCE = 'by (service, instance)'

/**
 * The drill-down from a fleet table row to this dashboard for that one process: the row's service and
 * instance become the variables, the data source, job and time range are kept.
 */
export const INSTANCE_DRILL_DOWN =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable and data-link syntax.
  '/d/beamline-overview/beamline-overview?${__url_time_range}&${datasource:queryparam}&${job:queryparam}&var-service=${__data.fields.service}&var-instance=${__data.fields.instance}'
const INSTANCE_LEGEND = '{{service}} {{instance}}'

export function overview() {
  return beamlineDashboard({
    uid: 'beamline-overview',
    title: 'Beamline / Overview',
    description:
      'Pressure level and its reasons, shedding, queues and runtime of every service exporting beamline metrics. Runbooks: docs/operations.md.',
    rows: [
      {
        title: 'Pressure',
        panels: [
          stateTimelinePanel({
            title: 'Pressure level',
            description:
              'The level each instance’s PressureMonitor acts on (highest value the sidecar’s 1 s polls saw): ok; throttle = low-priority work is refused with a probability equal to the score; shed = every non-critical request gets 503. Bad: any red band, or yellow lasting minutes. Do: look at "Pressure signals" for the signal holding the level, then add capacity or cut the offered load; if the signal is healthy for this service, raise its thresholds (docs/operations.md#tuning-thresholds).',
            unit: 'none',
            queries: [
              {
                expr: `max ${BY_INSTANCE} (max_over_time(${sel(peak(S.pressureLevel))}[$__rate_interval]))`,
                legend: INSTANCE_LEGEND,
              },
            ],
            mappings: states([
              [0, 'ok', GREEN],
              [1, 'throttle', YELLOW],
              [2, 'shed', RED],
            ]),
            thresholds: [
              [1, YELLOW],
              [2, RED],
            ],
          }),
          timeseriesPanel({
            title: 'Pressure score',
            description:
              'How far the worst signal is between its throttle threshold (0 %) and its shed threshold (100 %); it rises before the level changes and is not delayed by the cool-down. Bad: a score climbing towards 100 % means shedding is minutes away. Do: act on the signal shown in "Pressure signals" before it sheds; a score that never leaves 0 under real overload means the thresholds are too high.',
            unit: 'percentunit',
            min: 0,
            max: 1,
            thresholds: [
              [0.5, YELLOW],
              [1, RED],
            ],
            queries: [
              {
                expr: `max ${BY_INSTANCE} (max_over_time(${sel(peak(S.pressureScore))}[$__rate_interval]))`,
                legend: INSTANCE_LEGEND,
              },
            ],
          }),
          timeseriesPanel({
            title: 'Pressure signals: GC, event loop, heap',
            description:
              'The fraction signals the PressureMonitor samples: gcFraction (share of wall time in GC), eventLoopUtilization (share of time the loop was busy), heapUsedRatio (used heap over the heap limit). The level is held by the signals over their throttle threshold (defaults: gcFraction 0.1/0.25, eventLoopUtilization 0.9/0.98, heapUsedRatio 0.8/0.92). Bad: a signal at or above its threshold. Do: the runbook of that signal in docs/operations.md.',
            unit: 'percentunit',
            min: 0,
            max: 1,
            queries: [
              { expr: `max ${BY_INSTANCE} (${sel(S.pressureGc)})`, legend: '{{instance}} gcFraction' },
              {
                expr: `max ${BY_INSTANCE} (${sel(S.pressureEventLoopUtilization)})`,
                legend: '{{instance}} eventLoopUtilization',
              },
              {
                expr: `max ${BY_INSTANCE} (${sel(S.pressureHeapUsed)})`,
                legend: '{{instance}} heapUsedRatio',
              },
            ],
          }),
          timeseriesPanel({
            title: 'Pressure signal: event-loop delay',
            description:
              'The eventLoopDelayP99Ms signal the PressureMonitor acts on (shown in seconds): the largest event-loop delay p99 over its windowMs. Default thresholds 50 ms / 200 ms. Bad: at or above the throttle threshold — synchronous work blocks the loop. Do: the eventLoopDelayP99Ms runbook in docs/operations.md.',
            unit: 's',
            min: 0,
            queries: [
              {
                expr: `max ${BY_INSTANCE} (${sel(S.pressureEventLoopDelayP99)})`,
                legend: INSTANCE_LEGEND,
              },
            ],
          }),
          timeseriesPanel({
            title: 'Pressure signals: queues',
            description:
              'The queue signals the PressureMonitor samples from the mailbox registry, in messages: queuedMessages (all mailboxes) and longestQueue (the longest one). Defaults: queuedMessages 5000/20000, longestQueue 1000/10000. Bad: a signal at or above its threshold. Do: the runbook of that signal in docs/operations.md.',
            unit: 'short',
            min: 0,
            queries: [
              {
                expr: `max ${BY_INSTANCE} (${sel(S.pressureQueuedMessages)})`,
                legend: '{{instance}} queuedMessages',
              },
              {
                expr: `max ${BY_INSTANCE} (${sel(S.pressureLongestQueue)})`,
                legend: '{{instance}} longestQueue',
              },
            ],
          }),
          timeseriesPanel({
            title: 'Shed rate by reason and route',
            description:
              'Requests refused with 503 by httpShedder/fastifyShedder (and recordShed), per second, by the signal that caused it and by route. Bad: any sustained shedding — users are being turned away (alert BeamlineSustainedShedding). Do: the reason names the saturated signal; add instances or capacity, or lower the load; check that health and critical routes are exempt or prioritised.',
            unit: 'reqps',
            width: 24,
            stack: true,
            queries: [
              {
                expr: `sum by (reason, route) (${rate(S.shed)})`,
                legend: '{{reason}} {{route}}',
              },
            ],
          }),
        ],
      },
      {
        title: 'Queues',
        panels: [
          timeseriesPanel({
            title: 'Queued messages',
            description:
              'Messages waiting in all mailboxes of each instance (highest poll of the last 30 s, the sidecar’s --peak-window). Bad: growth that does not come back down — consumers are slower than producers; this is the queuedMessages pressure signal. Do: open Beamline / Mailboxes to find the group, then speed up or add its consumers.',
            unit: 'short',
            min: 0,
            queries: [
              { expr: `sum ${BY_INSTANCE} (${sel(peak(S.mailboxQueued))})`, legend: INSTANCE_LEGEND },
            ],
          }),
          timeseriesPanel({
            title: 'Longest queue',
            description:
              'Length of the longest single mailbox of each instance (highest poll of the last 30 s, the sidecar’s --peak-window): one slow session or destination, the WhatsApp "one process with a huge message queue" failure. Bad: one mailbox far longer than the rest, growing. Do: the sidecar’s /api/v1/snapshot names it (top mailboxes); fix or isolate that consumer, or bound the mailbox (capacity, drop-oldest, maxAgeMs).',
            unit: 'short',
            min: 0,
            queries: [
              { expr: `max ${BY_INSTANCE} (${sel(peak(S.mailboxLongest))})`, legend: INSTANCE_LEGEND },
            ],
          }),
        ],
      },
      {
        title: 'Runtime',
        panels: [
          timeseriesPanel({
            title: 'GC time share',
            description:
              'Fraction of wall time spent in garbage collection over the last 10 s. Bad: above 10 % (the default gcFraction throttle threshold) — the heap is too small for the live data, or something allocates per message. Do: compare with "Heap"; raise --max-old-space-size, or find the allocation (queues holding large objects count too).',
            unit: 'percentunit',
            min: 0,
            thresholds: [
              [0.1, YELLOW],
              [0.25, RED],
            ],
            queries: [
              {
                expr: `max ${BY_INSTANCE} (${sel(X.gcTimeRatio, 'window="10s"')})`,
                legend: INSTANCE_LEGEND,
              },
            ],
          }),
          timeseriesPanel({
            title: 'Event-loop delay p99',
            description:
              'How late timers ran, 99th percentile over the exporter’s last 1 s window, and the worst single delay of the last 30 s. Bad: p99 above 50 ms (default throttle threshold) — every request on this instance waits that long before its code runs. Do: find the synchronous work (CPU profile), move it to worker threads, or shed earlier.',
            unit: 's',
            min: 0,
            thresholds: [
              [0.05, YELLOW],
              [0.2, RED],
            ],
            queries: [
              { expr: `max ${BY_INSTANCE} (${sel(S.eventLoopDelayP99)})`, legend: '{{instance}} p99' },
              {
                expr: `max ${BY_INSTANCE} (${sel(peak(S.eventLoopDelayMax))})`,
                legend: '{{instance}} max',
              },
            ],
          }),
          timeseriesPanel({
            title: 'Event-loop utilization',
            description:
              'Fraction of the last second the event loop was busy running JavaScript. Bad: above 90 % — the thread is saturated and any more work queues up. Do: add instances or worker threads, or shed earlier (eventLoopUtilization threshold).',
            unit: 'percentunit',
            min: 0,
            max: 1,
            thresholds: [
              [0.9, YELLOW],
              [0.98, RED],
            ],
            queries: [
              { expr: `max ${BY_INSTANCE} (${sel(S.eventLoopUtilization)})`, legend: INSTANCE_LEGEND },
            ],
          }),
          timeseriesPanel({
            title: 'Heap',
            description:
              'V8 heap used and reserved (all heap spaces), and the resident set size. Bad: used approaching the reserved size with the GC time share rising, or RSS growing without bound (a leak, or unbounded queues). Do: check queue lengths first; then take a heap snapshot; raise --max-old-space-size only once the growth is explained.',
            unit: 'bytes',
            min: 0,
            queries: [
              { expr: `sum ${BY_INSTANCE} (${sel(S.heapUsed)})`, legend: '{{instance}} used' },
              { expr: `sum ${BY_INSTANCE} (${sel(S.heapLimit)})`, legend: '{{instance}} reserved' },
              { expr: `max ${BY_INSTANCE} (${sel(S.rss)})`, legend: '{{instance}} rss' },
            ],
          }),
        ],
      },
      {
        title: 'Targets',
        panels: [
          stateTimelinePanel({
            title: 'Targets up',
            description:
              'Whether the sidecar got a valid snapshot from each exporter at its last poll (target), and whether Prometheus could scrape the sidecar (sidecar). Bad: any red — the numbers above are stale or missing for that process (alerts BeamlineTargetDown, BeamlineSidecarDown). Do: the sidecar’s /api/v1/targets gives the reason (connection refused, timeout, schema); check the process, its socket path and permissions.',
            unit: 'none',
            width: 24,
            queries: [
              { expr: `min by (target) (${sel(X.targetUp)})`, legend: 'target {{target}}' },
              { expr: `min by (instance) (${sel(PROMETHEUS_UP)})`, legend: 'sidecar {{instance}}' },
            ],
            mappings: states([
              [0, 'down', RED],
              [1, 'up', GREEN],
            ]),
            base: RED,
            thresholds: [[1, GREEN]],
          }),
        ],
      },
      fleetRow(),
    ],
  })
}

const R = RECORDED
/** The ten pods with the most queued messages: the rows of "Top pods", every column limited to them. */
const TOP_PODS = `topk(10, ${recordedSel(R.podQueuedPeak)})`
const onTopPods = (expr: string) => `${expr} and on (job, service, instance) ${TOP_PODS}`
const LEVEL_COLOURS = [GREEN, YELLOW, RED]

/**
 * Fleet questions — which of 40 pods sheds, how much is queued across the service, is a pod's
 * sidecar down — from the recording rules (grafana/src/recording-rules.ts), so a dashboard over
 * hundreds of pods reads one series per pod or per service instead of every raw series.
 */
function fleetRow() {
  return {
    title: 'Fleet',
    panels: [
      timeseriesPanel({
        title: 'Pods by pressure level',
        description:
          'How many processes of each service are at each pressure level (highest poll of the last 30 s), from the recording rule service_level:beamline_pressure_level_peak:count. Bad: any pod at shed (2), or a growing share at throttle (1) — the service as a whole is short of capacity when many pods are, one pod is stuck or unlucky when only it is. Do: many pods → scale out or cut the load; one pod → "Top pods" below and its Overview (click its row).',
        unit: 'short',
        min: 0,
        stack: true,
        queries: [
          {
            expr: `sum by (service, level) (${recordedSel(R.serviceLevelPods)})`,
            legend: '{{service}} level {{level}}',
          },
        ],
        overrides: LEVEL_COLOURS.map((colour, level) => ({
          matcher: `.* level ${level}$`,
          properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: colour } }],
        })),
      }),
      tablePanel({
        title: 'Top pods by queued messages',
        description:
          'The ten processes with the most messages queued (sum over their groups of the highest poll of the last 30 s), with their longest mailbox, shed rate (1 min) and pressure level; click a row for its Overview. Bad: one pod far above the others — its consumers are stuck, or the hash ring sends it a hot key. Do: open its Overview (the instance drill-down), then the sidecar’s /api/v1/snapshot of that pod for the mailbox names.',
        unit: 'short',
        columns: {
          'Value #A': 'queued',
          'Value #B': 'longest',
          'Value #C': 'shed/s',
          'Value #D': 'level',
        },
        sortBy: 'queued',
        queries: [
          { expr: TOP_PODS, legend: '' },
          { expr: onTopPods(recordedSel(R.podLongestPeak)), legend: '' },
          { expr: onTopPods(recordedSel(R.podShedRate)), legend: '' },
          { expr: onTopPods(recordedSel(R.podLevelPeak)), legend: '' },
        ],
        links: [{ title: 'Overview of this pod', url: INSTANCE_DRILL_DOWN }],
      }),
      timeseriesPanel({
        title: 'Refused per second by service',
        description:
          'Requests shed with 503 by all pods of each service, by route, and acquisitions refused by each semaphore (recording rules, 1 min rates). Bad: sustained shedding on a service whose pods are not all at shed — the load is unevenly spread; on every pod — the service lacks capacity. Do: compare with "Pods by pressure level"; scale out, or fix the balancing.',
        unit: 'reqps',
        min: 0,
        queries: [
          {
            expr: `sum by (service, route) (${recordedSel(R.routeShedRate)})`,
            legend: '{{service}} {{route}} shed',
          },
          {
            expr: `sum by (service, semaphore) (${recordedSel(R.semaphoreRejectedRate)})`,
            legend: '{{service}} {{semaphore}} refused',
          },
        ],
      }),
      timeseriesPanel({
        title: 'Admitted per second by service',
        description:
          'Work the pods of each service took on: messages into mailboxes, permits granted by each semaphore, outbound requests admitted by the bulkhead of each origin (recording rules, 1 min rates). Bad: admitted work falling while the offered load (shed + admitted) holds — the service does less for the same traffic. Do: check "Refused per second" and the runtime panels of the worst pods.',
        unit: 'ops',
        min: 0,
        queries: [
          {
            expr: `sum by (service) (${recordedSel(R.serviceEnqueuedRate)})`,
            legend: '{{service}} messages',
          },
          {
            expr: `sum by (service, semaphore) (${recordedSel(R.semaphoreAcquiredRate)})`,
            legend: '{{service}} {{semaphore}} permits',
          },
          {
            expr: `sum by (service, origin) (${recordedSel(R.originAdmittedRate)})`,
            legend: '{{service}} {{origin}}',
          },
        ],
      }),
      timeseriesPanel({
        title: 'Queued messages by service',
        description:
          'Messages waiting in every mailbox of every pod of each service, and the longest single mailbox of any of its pods (highest poll of the last 30 s). Bad: a total that keeps growing — the whole service falls behind; a longest far above total ÷ pods — one pod or one key. Do: "Top pods by queued messages" names the pods; Beamline / Mailboxes the groups.',
        unit: 'short',
        min: 0,
        queries: [
          { expr: `sum by (service) (${recordedSel(R.serviceQueued)})`, legend: '{{service}} queued' },
          {
            expr: `max by (service) (${recordedSel(R.serviceLongestPeak)})`,
            legend: '{{service}} longest',
          },
        ],
      }),
      timeseriesPanel({
        title: 'Targets and sidecars down',
        description:
          'How many exporters the sidecars cannot read (targets) and how many sidecars Prometheus cannot scrape, fleet-wide: the count that stays readable with hundreds of pods, where "Targets up" does not. Bad: anything above 0 for more than a scrape or two (alerts BeamlineTargetDown, BeamlineSidecarDown) — those pods are invisible above. Do: "Targets up" names them; the sidecar’s /api/v1/targets gives the reason.',
        unit: 'short',
        min: 0,
        queries: [
          { expr: `sum (1 - ${sel(X.targetUp)})`, legend: 'targets down' },
          { expr: `sum (1 - ${sel(PROMETHEUS_UP)})`, legend: 'sidecars down' },
        ],
      }),
    ],
  }
}
