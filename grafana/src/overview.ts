/**
 * Beamline / Overview: is any instance about to fall over, and why. Pressure first (the level the
 * services act on, and the signals behind it), then what they shed, their queues and their runtime.
 */
import { SNAPSHOT_METRICS as S, SIDECAR_METRICS as X } from '@beamline/sidecar'
import { beamlineDashboard } from './dashboard.js'
import { GREEN, RED, states, stateTimelinePanel, timeseriesPanel, YELLOW } from './panels.js'
import { PROMETHEUS_UP, peak, rate, sel } from './selectors.js'

const BY_INSTANCE = 'by (service, instance)'
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
    ],
  })
}
