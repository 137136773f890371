/**
 * Beamline / Mailboxes: where messages wait, per group — backlog, WhatsApp message_queue_stats-style
 * rates over 1 s / 10 s / 100 s, drops by reason, the groups to look at first, and the fill and
 * traffic of @beamline/fanout channels.
 */
import { SNAPSHOT_METRICS as S, SIDECAR_METRICS as X } from '@beamline/sidecar'
import { beamlineDashboard, labelVariable, windowVariable } from './dashboard.js'
import { RED, tablePanel, timeseriesPanel, YELLOW } from './panels.js'
import { JOB_FILTER, peak, rate, sel, TARGET_FILTERS } from './selectors.js'

const GROUP = 'group=~"$group"'
const BY_GROUP = 'by (group)'
const BY_CHANNEL = 'by (service, instance, channel)'
const CHANNEL_LEGEND = '{{instance}} {{channel}}'

/** The sidecar's rate of `direction` over the selected window. */
function mailboxRate(direction: 'enqueued' | 'dequeued' | 'dropped', window = '$window'): string {
  return `sum ${BY_GROUP} (${sel(X.mailboxRate, GROUP, `direction="${direction}"`, `window="${window}"`)})`
}

export function mailboxes() {
  return beamlineDashboard({
    uid: 'beamline-mailboxes',
    title: 'Beamline / Mailboxes',
    description:
      'Per mailbox group: messages waiting, how fast they come and go over 1 s / 10 s / 100 s, what is dropped and why. Runbooks: docs/operations.md.',
    variables: [
      labelVariable(
        'group',
        'Group',
        `${S.mailboxes.name}{${JOB_FILTER},${TARGET_FILTERS}}`,
        'Mailbox group (the `group` option of registry.mailbox / registry.lanes).',
      ),
      windowVariable(),
    ],
    rows: [
      {
        title: 'Backlog',
        panels: [
          timeseriesPanel({
            title: 'Queued messages by group',
            description:
              'Messages waiting in the mailboxes of each group, summed over the selected instances (highest poll of the last 30 s, the sidecar’s --peak-window). Bad: a group that keeps growing (alert BeamlineMailboxGrowing) — its consumers are slower than its producers, and memory and latency grow with it. Do: compare its enqueue and dequeue rates below; speed up or add consumers, or bound the mailbox (capacity, drop-oldest, maxAgeMs).',
            unit: 'short',
            min: 0,
            queries: [
              { expr: `sum ${BY_GROUP} (${sel(peak(S.mailboxQueued), GROUP)})`, legend: '{{group}}' },
            ],
          }),
          timeseriesPanel({
            title: 'Longest mailbox by group',
            description:
              'Length of the longest single mailbox of each group (highest poll of the last 30 s, the sidecar’s --peak-window). Bad: far above the group’s average (queued ÷ non-empty) — one session or destination is stuck while the others are fine. Do: the sidecar’s /api/v1/snapshot lists the top mailboxes by name; use lanes or per-destination mailboxes so one slow destination cannot hold the others.',
            unit: 'short',
            min: 0,
            queries: [
              { expr: `max ${BY_GROUP} (${sel(peak(S.mailboxLongest), GROUP)})`, legend: '{{group}}' },
            ],
          }),
          timeseriesPanel({
            title: 'Non-empty mailboxes by group',
            description:
              'Mailboxes holding at least one message, and all mailboxes of the group. Bad: the non-empty count approaching the total — the backlog is everywhere, so the consumers as a whole (CPU, a shared dependency) are too slow, not one session. Do: check the pressure signals and the semaphores on Beamline / Load protection.',
            unit: 'short',
            min: 0,
            queries: [
              { expr: `sum ${BY_GROUP} (${sel(S.mailboxNonEmpty, GROUP)})`, legend: '{{group}} non-empty' },
              { expr: `sum ${BY_GROUP} (${sel(S.mailboxes, GROUP)})`, legend: '{{group}} mailboxes' },
            ],
          }),
          tablePanel({
            title: 'Top groups',
            description:
              'The ten groups with the most queued messages, the longest mailboxes and the highest drop rate (100 s window) right now. Bad: the same group at the top of all three columns. Do: start with that group’s consumers; the sidecar’s /api/v1/snapshot names its longest mailboxes.',
            unit: 'short',
            columns: {
              'Value #A': 'queued',
              'Value #B': 'longest',
              'Value #C': 'dropped/s (100s)',
            },
            sortBy: 'queued',
            queries: [
              {
                expr: `topk(10, sum by (service, instance, group) (${sel(S.mailboxQueued, GROUP)}))`,
                legend: '',
              },
              {
                expr: `topk(10, max by (service, instance, group) (${sel(S.mailboxLongest, GROUP)}))`,
                legend: '',
              },
              {
                expr: `topk(10, sum by (service, instance, group) (${sel(X.mailboxRate, GROUP, 'direction="dropped"', 'window="100s"')}))`,
                legend: '',
              },
            ],
          }),
        ],
      },
      {
        title: 'Rates ($window window)',
        panels: [
          timeseriesPanel({
            title: 'Enqueue rate',
            description:
              'Messages accepted into the group’s mailboxes per second, over the selected window (the sidecar computes it from its 1 s polls with the services’ own clocks). Bad: a jump far above the dequeue rate — a burst the consumers cannot absorb. Do: if it lasts, shed at the edge or throttle the producer.',
            unit: 'mps',
            min: 0,
            queries: [{ expr: mailboxRate('enqueued'), legend: '{{group}}' }],
          }),
          timeseriesPanel({
            title: 'Dequeue rate',
            description:
              'Messages taken out by consumers per second, over the selected window (groups of observed queues count none and stay at zero). Bad: zero while a mailbox group has messages queued (alert BeamlineMailboxNotDraining) — the consumer is stuck or dead; or flat at a ceiling while the enqueue rate is above it — the consumers are at capacity. Do: check the consumer for a hung await or crash; add consumers or make them faster.',
            unit: 'mps',
            min: 0,
            queries: [{ expr: mailboxRate('dequeued'), legend: '{{group}}' }],
          }),
          timeseriesPanel({
            title: 'Net growth (enqueued − dequeued − dropped)',
            description:
              'How fast the backlog grows (positive) or drains (negative), in messages per second over the selected window. Bad: positive over the 100 s window — the queue will only grow. Do: as for Queued messages; the time to drain is queued ÷ the negative growth.',
            unit: 'mps',
            thresholds: [[1, YELLOW]],
            queries: [
              {
                expr: `${mailboxRate('enqueued')} - ${mailboxRate('dequeued')} - ${mailboxRate('dropped')}`,
                legend: '{{group}}',
              },
            ],
          }),
          timeseriesPanel({
            title: 'Drop rate',
            description:
              'Accepted messages dropped per second (evicted from a full drop-oldest mailbox, expired past maxAgeMs / CoDel overload, or abandoned in a mailbox whose worker thread died), over the selected window. Bad: any sustained drops — messages are lost by design here, so check that this group may lose them. Do: see "Drops by reason"; grow capacity only if memory allows and the consumers can catch up.',
            unit: 'mps',
            min: 0,
            thresholds: [[1, RED]],
            queries: [{ expr: mailboxRate('dropped'), legend: '{{group}}' }],
          }),
        ],
      },
      {
        title: 'Drops',
        panels: [
          timeseriesPanel({
            title: 'Drops by reason',
            description:
              "Per second, by group: overflow (evicted from a full drop-oldest mailbox), expired (waited past maxAgeMs, or shed by CoDel overload), abandoned (still queued when the mailbox's worker thread died), and rejected (refused at push because a reject-mode mailbox was full; the caller kept the message). Bad: expired — messages wait longer than they are worth, latency is the problem; overflow or rejected — the mailbox is full, throughput is; abandoned — workers crash or are recycled with work queued. Do: expired → faster consumers or a lower maxAgeMs upstream; overflow/rejected → more consumers, or push back on producers; abandoned → find why workers exit (their error logs), drain before recycling.",
            unit: 'mps',
            width: 24,
            stack: true,
            queries: [
              {
                expr: `sum by (group, reason) (${rate(S.mailboxDropped, GROUP)})`,
                legend: '{{group}} {{reason}}',
              },
              { expr: `sum ${BY_GROUP} (${rate(S.mailboxRejected, GROUP)})`, legend: '{{group}} rejected' },
            ],
          }),
        ],
      },
      {
        title: 'Channels (@beamline/fanout)',
        panels: [
          timeseriesPanel({
            title: 'Channel fill',
            description:
              'Bytes of each channel’s ring taken by frames the consumer has not read yet, as a fraction of its capacity. Bad: near 100 % — the consuming worker is slower than its producers; trySend refuses and send waits. Do: find why that worker is slow (its event loop, its sessions), spread owners over more workers, or raise capacityBytes if the bursts are short.',
            unit: 'percentunit',
            min: 0,
            max: 1,
            thresholds: [
              [0.8, YELLOW],
              [0.95, RED],
            ],
            queries: [
              {
                expr: `max ${BY_CHANNEL} (${sel(S.channelUsedBytes)} / ${sel(S.channelCapacityBytes)})`,
                legend: CHANNEL_LEGEND,
              },
            ],
          }),
          timeseriesPanel({
            title: 'Channel frames by direction',
            description:
              'Frames per second written (sent), read by the consumer (received) and refused because the channel was full (trySend returned false). Bad: refused above zero — messages to that worker were not delivered, or sent lags received for long. Do: as for "Channel fill"; callers that must not lose a frame use send() with a timeout instead of trySend().',
            unit: 'ops',
            min: 0,
            queries: [
              {
                expr: `sum by (instance, channel, direction) (${rate(S.channelFrames)})`,
                legend: `${CHANNEL_LEGEND} {{direction}}`,
              },
            ],
            overrides: [
              {
                matcher: '.* refused$',
                properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: RED } }],
              },
            ],
          }),
        ],
      },
    ],
  })
}
