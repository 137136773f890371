/**
 * Beamline / Load protection: the limits that keep a service up — semaphores bounding shared
 * resources, adaptive concurrency limits (@beamline/limit) at the door, and the undici bulkheads and
 * adaptive throttles guarding outbound calls.
 */
import { SNAPSHOT_METRICS as S } from '@beamline/sidecar'
import { beamlineDashboard } from './dashboard.js'
import { RED, sumBy, timeseriesPanel, YELLOW } from './panels.js'
import { peak, rate, sel } from './selectors.js'

const BY_SEMAPHORE = 'by (service, instance, semaphore)'
const SEMAPHORE_LEGEND = '{{instance}} {{semaphore}}'
const BY_LIMIT = 'by (service, instance, limit)'
const LIMIT_LEGEND = '{{instance}} {{limit}}'

export function loadProtection() {
  return beamlineDashboard({
    uid: 'beamline-load-protection',
    title: 'Beamline / Load protection',
    description:
      'Semaphores bounding shared resources, adaptive concurrency limits, and the bulkheads and adaptive throttles of outbound HTTP calls. Runbooks: docs/operations.md.',
    rows: [
      {
        title: 'Semaphores',
        panels: [
          timeseriesPanel({
            title: 'Permits in use vs max',
            description:
              'Permits held (highest poll of the last 30 s, the sidecar’s --peak-window) against the semaphore’s size, per process (all its worker threads share one count). Bad: in use pinned at max — every caller beyond it waits or is refused (alert BeamlineSemaphoreSaturated). Do: if the guarded resource (database pool, CPU-heavy section) has headroom, resize(); otherwise the resource is the bottleneck: shed earlier or add capacity behind it.',
            unit: 'short',
            min: 0,
            queries: [
              {
                expr: `max ${BY_SEMAPHORE} (${sel(peak(S.semaphoreInUse))})`,
                legend: `${SEMAPHORE_LEGEND} in use`,
              },
              { expr: `max ${BY_SEMAPHORE} (${sel(S.semaphoreMax)})`, legend: `${SEMAPHORE_LEGEND} max` },
            ],
            overrides: [
              {
                matcher: '.* max$',
                properties: [
                  { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
                  { id: 'custom.fillOpacity', value: 0 },
                ],
              },
            ],
          }),
          timeseriesPanel({
            title: 'Semaphore utilisation',
            description:
              'Highest permits in use over the last 30 s as a fraction of max. Bad: above 95 % for minutes — saturated. Do: as for "Permits in use vs max"; a semaphore that never goes above a few % is oversized and protects nothing.',
            unit: 'percentunit',
            min: 0,
            thresholds: [
              [0.8, YELLOW],
              [0.95, RED],
            ],
            queries: [
              {
                expr: `max ${BY_SEMAPHORE} (${sel(peak(S.semaphoreInUse))} / ${sel(S.semaphoreMax)})`,
                legend: SEMAPHORE_LEGEND,
              },
            ],
          }),
          timeseriesPanel({
            title: 'Waiting for a permit',
            description:
              'acquire() calls parked for a permit (highest poll of the last 30 s, the sidecar’s --peak-window), all threads. Bad: a queue that does not empty between bursts — waiting adds latency to every request and each waiter holds memory. Do: bound the wait (timeoutMs, maxWaiters) so callers fail fast, or use tryCall and degrade.',
            unit: 'short',
            min: 0,
            queries: [
              { expr: `max ${BY_SEMAPHORE} (${sel(peak(S.semaphoreWaiting))})`, legend: SEMAPHORE_LEGEND },
            ],
          }),
          timeseriesPanel({
            title: 'Acquisitions and rejections',
            description:
              'Per second: permits granted; acquisitions refused because the semaphore was full (tryAcquire, call, a full waiter queue); waits that timed out; permits reclaimed from worker threads that died holding them. Bad: rejections or timeouts above zero — callers are being turned away; reclaimed above zero — workers crash while holding the resource. Do: rejections → see saturation above; reclaimed → find the crashing worker.',
            unit: 'ops',
            min: 0,
            queries: [
              sumBy('semaphore', rate(S.semaphoreAcquired), 'acquired'),
              sumBy('semaphore', rate(S.semaphoreRejected), 'rejected'),
              sumBy('semaphore', rate(S.semaphoreTimedOut), 'timed out'),
              sumBy('semaphore', rate(S.semaphoreReclaimed), 'reclaimed'),
            ],
            overrides: [
              {
                matcher: '.*(rejected|timed out|reclaimed)$',
                properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: RED } }],
              },
            ],
          }),
        ],
      },
      {
        title: 'Concurrency limits',
        panels: [
          timeseriesPanel({
            title: 'Limit vs in flight',
            description:
              'The adaptive concurrency limit (@beamline/limit, learned from round-trip times) against the requests holding a token now, every thread of the process, and the limit’s floor (dashed). Bad: the limit pinned at its floor — what it guards is failing or far slower than its baseline (alert BeamlineLimitAtMinimum); in flight pinned at the limit with refusals below — demand is above what the service can do at its unloaded latency, and the limit is refusing the excess, as designed. Do: at the floor, look at the downstream (Refusals by outcome: dropped); at the limit, add capacity.',
            unit: 'short',
            min: 0,
            queries: [
              { expr: `max ${BY_LIMIT} (${sel(S.limitLimit)})`, legend: `${LIMIT_LEGEND} limit` },
              { expr: `sum ${BY_LIMIT} (${sel(S.limitInFlight)})`, legend: `${LIMIT_LEGEND} in flight` },
              { expr: `max ${BY_LIMIT} (${sel(S.limitMinLimit)})`, legend: `${LIMIT_LEGEND} floor` },
            ],
            overrides: [
              {
                matcher: '.* floor$',
                properties: [
                  { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
                  { id: 'custom.fillOpacity', value: 0 },
                ],
              },
            ],
          }),
          timeseriesPanel({
            title: 'Queue time and round-trip time',
            description:
              'Mean time admitted requests waited in the limit’s queue (those admitted at once count as 0), against the round-trip time the limit learns from: its no-load baseline (min RTT) and the last window’s mean (sample RTT). Bad: a queue time near the CoDel target or maxWaitMs for long — the queue stands; a sample RTT far above the baseline while the limit does not fall — what is measured is not what is slow. Do: a standing queue with refusals is overload being handled; see Limit vs in flight.',
            unit: 's',
            min: 0,
            queries: [
              {
                expr: `sum ${BY_LIMIT} (${rate(S.limitQueueTime)}) / sum ${BY_LIMIT} (${rate(S.limitRequests, 'outcome="acquired"')})`,
                legend: `${LIMIT_LEGEND} mean queue time`,
              },
              { expr: `max ${BY_LIMIT} (${sel(S.limitMinRtt)})`, legend: `${LIMIT_LEGEND} min RTT` },
              { expr: `max ${BY_LIMIT} (${sel(S.limitSampleRtt)})`, legend: `${LIMIT_LEGEND} sample RTT` },
            ],
          }),
          timeseriesPanel({
            title: 'Refusals by outcome',
            description:
              'Per second and limit: requests refused at the limit (rejected: no queue or tryAcquire), with the queue full (queue_full), after waiting in vain (timed_out: CoDel, maxWaitMs or a deadline), aborted while waiting; and admitted requests that ended dropped (a 5xx or a timeout: the limit backs off). Bad: dropped above zero — what the limit guards is failing; refusals for minutes — sustained overload. Do: dropped → the downstream; refusals → capacity, or the clients’ retry behaviour (they get Retry-After).',
            unit: 'reqps',
            min: 0,
            stack: true,
            queries: [
              {
                expr: `sum by (limit, outcome) (${rate(S.limitRequests, 'outcome!="acquired"')})`,
                legend: '{{limit}} {{outcome}}',
              },
              {
                expr: `sum by (limit) (${rate(S.limitCompleted, 'outcome="dropped"')})`,
                legend: '{{limit}} dropped',
              },
            ],
            overrides: [
              {
                matcher: '.* dropped$',
                properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: RED } }],
              },
            ],
          }),
          timeseriesPanel({
            title: 'Waiting and in flight by partition',
            description:
              'Requests holding a token and requests waiting for one, per partition of each limit (default for a limit without partitions). Bad: a partition with waiters while another holds more than its share for long — its loan is not being returned fast enough; a low-priority partition always at zero in flight under load is starved, which a share of 0 does by design. Do: adjust the shares (partitions option), or shed the low partition earlier.',
            unit: 'short',
            min: 0,
            queries: [
              {
                expr: `sum by (limit, partition) (${sel(S.limitInFlight)})`,
                legend: '{{limit}} {{partition}} in flight',
              },
              {
                expr: `sum by (limit, partition) (${sel(S.limitQueued)})`,
                legend: '{{limit}} {{partition}} waiting',
              },
            ],
          }),
        ],
      },
      {
        title: 'Outbound calls (undici)',
        panels: [
          timeseriesPanel({
            title: 'Bulkhead in flight and queued per origin',
            description:
              'Requests on the wire, requests waiting for a slot, and the limit in force (maxConcurrent, or the origin’s adaptive limit with maxConcurrent: adaptive), per upstream origin. Bad: queued above zero for long — the upstream is slower than the request rate allows with maxConcurrent slots; every waiting request adds its wait to your latency. Do: check the upstream’s latency; lower queueTimeoutMs so callers fail fast, or raise maxConcurrent only if the upstream can take it.',
            unit: 'short',
            min: 0,
            queries: [
              sumBy('origin', sel(S.undiciActive), 'in flight'),
              sumBy('origin', sel(S.undiciQueued), 'queued'),
              sumBy('origin', sel(S.undiciLimit), 'limit'),
            ],
          }),
          timeseriesPanel({
            title: 'Bulkhead outcomes per origin',
            description:
              'Requests per second by outcome: admitted to the wire, rejected (queue full, ERR_BEAMLINE_BULKHEAD_FULL), timed out waiting (ERR_BEAMLINE_QUEUE_TIMEOUT), aborted while waiting; and how many had to wait. Bad: rejected or timed_out above zero — this origin is saturated and the bulkhead is protecting the rest of the service from it, as designed. Do: fix or scale the upstream; make sure callers handle these errors with a fallback.',
            unit: 'reqps',
            min: 0,
            stack: true,
            queries: [
              {
                expr: `sum by (origin, outcome) (${rate(S.undiciRequests)})`,
                legend: '{{origin}} {{outcome}}',
              },
              sumBy('origin', rate(S.undiciQueuedTotal), 'had to wait'),
            ],
          }),
          timeseriesPanel({
            title: 'Client throttle probability',
            description:
              'Probability that the adaptive throttle (Google SRE client-side throttling) refuses the next request to the origin locally: max(0, (requests − k·accepts) / (requests + 1)) over its window. Bad: above zero — the upstream answers 5xx/429 to more than 1/k of the requests, so the client sheds to let it recover. Do: look at the upstream; the probability falls on its own as accepts return.',
            unit: 'percentunit',
            min: 0,
            max: 1,
            thresholds: [
              [0.1, YELLOW],
              [0.5, RED],
            ],
            queries: [
              { expr: `max by (origin) (${sel(S.undiciThrottleProbability)})`, legend: '{{origin}}' },
            ],
          }),
          timeseriesPanel({
            title: 'Client throttle: requests, accepts, throttled',
            description:
              'Per second and origin: requests with a known outcome, requests the upstream accepted (neither 5xx nor 429), and requests refused locally by the throttle (ERR_BEAMLINE_THROTTLED). Bad: accepts well below requests — the upstream is failing. Do: the gap is the upstream’s error rate; throttled requests never reached it, which is what lets it recover.',
            unit: 'reqps',
            min: 0,
            queries: [
              sumBy('origin', rate(S.undiciThrottleRequests), 'requests'),
              sumBy('origin', rate(S.undiciThrottleAccepts), 'accepts'),
              sumBy('origin', rate(S.undiciThrottled), 'throttled'),
            ],
          }),
        ],
      },
    ],
  })
}
