/**
 * The one definition of the snapshot document (`GET /beamline/v1/snapshot`): the TypeScript types of
 * the snapshot are derived from it (`Static`), the sidecar validates with it (ajv), and the checked-in
 * `sidecar/schema/snapshot-v1.schema.json` and `docs/snapshot-schema.md` are generated from it (tests
 * fail when they are stale). Descriptions here are the documentation.
 *
 * A service never loads this module: the exporter imports only its types, so TypeBox is needed to
 * type-check against the exporter and by the sidecar at run time (`@beamline/exporter/schema`), never
 * in the service's process.
 *
 * Versioning (docs/snapshot-schema.md): `schema` names the major version. Additions keep it — every
 * object accepts properties it does not list, and a field added later is optional here, so readers of
 * an older minor ignore it and documents of an older minor stay valid. A rename, removal or change of
 * meaning is a new major (`beamline.snapshot/v2`), which a v1 reader refuses by name.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox'
import {
  MAX_GC_TYPES,
  MAX_HEAP_SPACES,
  MAX_KEY,
  MAX_LIST,
  MAX_MAP,
  MAX_NAME,
  MAX_RUNTIME_KEY,
  MAX_SIGNALS,
  MAX_TOP,
  SNAPSHOT_SCHEMA,
} from './snapshot-limits.js'

const Name = (description: string) => Type.String({ maxLength: MAX_NAME, description })
/** A count or a cumulative counter: a non-negative number (counters may pass 2^53 only in theory). */
const Count = (description: string) => Type.Number({ minimum: 0, description })
const Seconds = (description: string) => Type.Number({ minimum: 0, description })
const Level = (description: string) => Type.Integer({ minimum: 0, maximum: 2, description })
const Nullable = <T extends TSchema>(schema: T, description: string) =>
  Type.Union([Type.Null(), schema], { description })

/** An object keyed by names the service chose: bounded in size and key length. */
function NameMap<T extends TSchema>(
  value: T,
  options: { maxProperties: number; maxKey: number; description: string },
) {
  return Type.Unsafe<Record<string, Static<T>>>({
    type: 'object',
    maxProperties: options.maxProperties,
    propertyNames: { maxLength: options.maxKey },
    additionalProperties: value,
    description: options.description,
  })
}

/**
 * Messages dropped after being accepted, by cause. A new cause is added here as an optional count;
 * readers that sum the causes (the sidecar's dropped rate) include it without a change.
 */
export const DropCountsSchema = Type.Object(
  {
    overflow: Count(
      'Evicted from a full drop-oldest mailbox to make room for a newer message (a message refused at enqueue counts as rejected, not here).',
    ),
    expired: Count('Discarded unread because they waited longer than the mailbox’s maxAgeMs.'),
    abandoned: Type.Optional(
      Count(
        'Still queued in a mailbox when its thread died, counted when the registry reclaimed the thread. Exporters older than it leave it out.',
      ),
    ),
  },
  { title: 'DropCounts', description: 'Messages dropped after being accepted, by cause: cumulative.' },
)

/** The message counters every mailbox row, group and the totals carry. */
const MailboxCounters = {
  enqueued: Count('Messages accepted: cumulative.'),
  dequeued: Count('Messages taken out by a consumer: cumulative.'),
  rejected: Count('Messages refused at enqueue because the mailbox was full (reject mode): cumulative.'),
  dropped: DropCountsSchema,
}

/** A set of mailboxes' totals, described as where it appears (a group, or every group together). */
const mailboxGroup = (description: string) =>
  Type.Object(
    {
      queued: Count('Messages waiting now.'),
      nonEmpty: Count('Mailboxes holding at least one message now.'),
      longest: Count('Length of the longest mailbox now.'),
      mailboxes: Count('Mailboxes open now.'),
      ...MailboxCounters,
    },
    { title: 'MailboxGroup', description },
  )

export const MailboxGroupSchema = mailboxGroup('Totals of a set of mailboxes (one group, or every group).')

export const MailboxTopRowSchema = Type.Object(
  {
    name: Name('The mailbox’s name.'),
    group: Name('Its group.'),
    length: Count('Messages waiting now.'),
    peak: Count('Longest it has been since it opened.'),
    ...MailboxCounters,
    oldestAgeMs: Nullable(
      Count('Age of the oldest waiting message in milliseconds; 0 when empty.'),
      'Age of the oldest waiting message in milliseconds, 0 when empty; null for an observed queue (`registry.observe`), whose items the registry never saw and whose age is unknown.',
    ),
  },
  { title: 'MailboxTopRow', description: 'One of the longest mailboxes.' },
)

const LongestSchema = Type.Object(
  {
    name: Name('The mailbox’s name.'),
    group: Name('Its group.'),
    length: Count('Messages waiting in it now.'),
  },
  { title: 'LongestMailbox' },
)

export const MailboxesSchema = Type.Object(
  {
    totals: mailboxGroup('Every group together.'),
    groups: NameMap(MailboxGroupSchema, {
      maxProperties: MAX_LIST,
      maxKey: MAX_KEY,
      description: 'Per mailbox group, by group name.',
    }),
    longest: Nullable(LongestSchema, 'The longest mailbox; null when every mailbox is empty.'),
    top: Type.Array(MailboxTopRowSchema, {
      maxItems: MAX_TOP,
      description: 'The `topN` (default 20) longest mailboxes, longest first.',
    }),
    overflowNames: Count('Mailboxes whose names did not fit the shared name table: counted, not named.'),
  },
  { description: 'The mailbox registry.' },
)

export const SemaphoreRowSchema = Type.Object(
  {
    name: Name('The semaphore’s `name`; one row per name.'),
    max: Count('Permits it has.'),
    inUse: Count('Permits held now.'),
    waiting: Count('Callers queued for a permit now.'),
    acquired: Count('Acquisitions granted, one per call whatever its permits: cumulative.'),
    rejected: Count('Acquisitions refused (no free permit, or the wait queue full): cumulative.'),
    timedOut: Count(
      'Acquisitions that stopped waiting without a permit (timeout, abort, thread exit): cumulative.',
    ),
    peakInUse: Count('Most permits held at once since it was created.'),
    reclaimed: Count('Permits returned on behalf of threads that died holding them: cumulative.'),
  },
  { title: 'SemaphoreRow' },
)

/** One @beamline/fanout channel: a bounded ring of byte frames in shared memory. */
export const ChannelRowSchema = Type.Object(
  {
    name: Name('The channel’s `name`; one row per name.'),
    capacityBytes: Count('Bytes of its ring.'),
    usedBytes: Count(
      'Bytes taken now by frames not yet received (with their 8-byte headers and padding); fill = usedBytes / capacityBytes.',
    ),
    queuedFrames: Count('Frames sent and not yet received, now.'),
    framesSent: Count('Frames written: cumulative.'),
    bytesSent: Count('Payload bytes of the frames written: cumulative.'),
    framesReceived: Count('Frames taken out by the consumer: cumulative.'),
    bytesReceived: Count('Payload bytes of the frames taken out: cumulative.'),
    framesRefused: Count('trySend() calls refused because the channel was full: cumulative.'),
    bytesRefused: Count('Payload bytes those refused frames carried: cumulative.'),
    timedOut: Count('send() calls that found no room before their deadline: cumulative.'),
    abandoned: Count(
      'Frames a producer thread died while writing, skipped by the consumer (never half-read): cumulative.',
    ),
    waitingSenders: Count('send() calls parked for room now, all threads.'),
  },
  { title: 'ChannelRow' },
)

export const PressureReasonSchema = Type.Object(
  {
    signal: Name('The signal’s name (a PressureMonitor threshold name, e.g. `eventLoopDelayP99Ms`).'),
    value: Type.Number({ description: 'Its latest value, in the signal’s own unit.' }),
    throttle: Type.Number({ description: 'Its throttle threshold.' }),
    shed: Type.Number({ description: 'Its shed threshold.' }),
    level: Level('The level it holds the monitor at, hysteresis included.'),
  },
  { title: 'PressureReason' },
)

export const ShedCountSchema = Type.Object(
  {
    route: Name('The route label.'),
    reason: Name('The signal (or word) it was shed for.'),
    count: Count('Requests shed: cumulative.'),
  },
  { title: 'ShedCount' },
)

export const PressureSchema = Type.Object(
  {
    level: Level('0 ok, 1 throttle, 2 shed.'),
    score: Type.Number({
      description: 'How far the worst signal is between its throttle (0) and shed (1) thresholds.',
    }),
    reasons: Type.Array(PressureReasonSchema, {
      maxItems: MAX_SIGNALS,
      description: 'Signals holding the level at 1 or 2, strongest first.',
    }),
    signals: NameMap(Type.Number(), {
      maxProperties: MAX_SIGNALS,
      maxKey: MAX_KEY,
      description:
        'Latest value of every sampled signal by threshold name, in the signal’s own unit (`eventLoopDelayP99Ms` in milliseconds, fractions 0–1, queues in messages).',
    }),
    shed: Type.Array(ShedCountSchema, {
      maxItems: MAX_LIST,
      description: 'Requests shed, by route and reason.',
    }),
  },
  { description: 'The pressure monitor.' },
)

export const RingSchema = Type.Object(
  {
    version: Count('Generation; changes on every membership change.'),
    nodes: Count('Nodes in the ring.'),
    weight: Type.Number({ minimum: 0, description: 'Sum of the nodes’ weights.' }),
  },
  { title: 'Ring' },
)

export const BulkheadRowSchema = Type.Object(
  {
    key: Name('The origin; one row per origin (the rows of several bulkheads of one origin are summed).'),
    active: Count('Requests in flight now.'),
    queued: Count('Requests waiting for a slot now.'),
    admitted: Count('Requests admitted: cumulative.'),
    queuedTotal: Count('Requests that had to wait: cumulative.'),
    rejected: Count('Requests refused (no slot and the queue full): cumulative.'),
    timedOut: Count('Requests that waited longer than the queue timeout: cumulative.'),
    aborted: Count('Requests aborted while waiting: cumulative.'),
    limit: Type.Optional(
      Count(
        'The concurrency limit in force: `maxConcurrent`, or the origin’s adaptive limit now (summed over the bulkheads of one origin). Exporters older than it leave it out.',
      ),
    ),
  },
  { title: 'BulkheadRow' },
)

export const ThrottleRowSchema = Type.Object(
  {
    key: Name('The origin; one row per origin, as for bulkheads.'),
    requests: Count(
      'Requests with a known outcome in the sliding window: a gauge, it falls as the window slides.',
    ),
    accepts: Count('Requests of the window the backend accepted: a gauge.'),
    probability: Type.Number({
      minimum: 0,
      maximum: 1,
      description:
        'Probability that the next request is refused locally; the highest of the origin’s throttles.',
    }),
    throttled: Count('Requests refused locally: cumulative.'),
    requestsTotal: Type.Optional(Count('Requests counted: cumulative (absent from older exporters).')),
    acceptsTotal: Type.Optional(
      Count('Requests the backend accepted: cumulative (absent from older exporters).'),
    ),
  },
  { title: 'ThrottleRow' },
)

export const UndiciSchema = Type.Object(
  {
    bulkheads: Type.Array(BulkheadRowSchema, {
      maxItems: MAX_LIST,
      description: 'Outbound bulkheads, by origin.',
    }),
    throttles: Type.Array(ThrottleRowSchema, {
      maxItems: MAX_LIST,
      description: 'Client-side adaptive throttles (Google SRE), by origin.',
    }),
  },
  { description: '@beamline/undici.' },
)

/** The counters of every outcome, shared by a limit's row and its partitions' rows. */
const LimitCounters = {
  acquired: Count('Tokens granted, at once or after waiting: cumulative.'),
  succeeded: Count('Tokens ended with `success()` (an RTT sample): cumulative.'),
  dropped: Count(
    'Tokens ended with `dropped()`: the work failed from overload and the limit backed off: cumulative.',
  ),
  ignored: Count('Tokens ended with `ignore()` (nothing learned, e.g. a client went away): cumulative.'),
  rejected: Count(
    'Refused at once at the limit (`ERR_BEAMLINE_LIMIT_EXCEEDED`, or `tryAcquire` gave none): cumulative.',
  ),
  queueFull: Count(
    'Refused at once because `queue.maxWaiters` were waiting (`ERR_BEAMLINE_LIMIT_QUEUE_FULL`): cumulative.',
  ),
  timedOut: Count(
    'Waited in the queue and were refused (`ERR_BEAMLINE_LIMIT_TIMEOUT`: CoDel, maxWaitMs or the caller’s timeoutMs): cumulative.',
  ),
  aborted: Count('Waited in the queue until the caller’s signal aborted: cumulative.'),
}

export const LimitPartitionRowSchema = Type.Object(
  {
    share: Type.Number({ minimum: 0, maximum: 1, description: 'The configured share of the limit.' }),
    guaranteed: Count('Tokens guaranteed to the partition at the current limit.'),
    inFlight: Count('Tokens of the partition held now.'),
    queued: Count('Requests of the partition waiting now.'),
    ...LimitCounters,
  },
  { title: 'LimitPartitionRow', description: 'One partition of an adaptive limit.' },
)

export const LimitRowSchema = Type.Object(
  {
    name: Name('The limit’s `name`; one row per name.'),
    algorithm: Name('How the limit moves: `gradient2`, `vegas`, `aimd` or `fixed`.'),
    limit: Count('The concurrency limit in force now.'),
    minLimit: Count('The configured floor of the limit.'),
    maxLimit: Count('The configured ceiling of the limit.'),
    inFlight: Count('Tokens held now, every thread.'),
    queued: Count('Requests waiting for a token now, every thread.'),
    minRttMs: Nullable(
      Count('The estimated round-trip time without queueing, ms.'),
      'The estimated round-trip time without queueing, milliseconds; null before the first window with samples.',
    ),
    sampleRttMs: Nullable(
      Count('The last window’s mean RTT, ms.'),
      'The last window’s mean RTT of successful tokens, milliseconds; null before the first.',
    ),
    ...LimitCounters,
    reclaimed: Count('Tokens returned on behalf of threads that died holding them: cumulative.'),
    windows: Count('Limit updates run: cumulative.'),
    limitChanges: Count('Limit updates that changed the limit: cumulative.'),
    queueTime: Type.Object(
      {
        boundsMs: Type.Array(Type.Number({ minimum: 0 }), {
          maxItems: MAX_SIGNALS,
          description: 'Upper bounds of the finite buckets, milliseconds, ascending.',
        }),
        counts: Type.Array(Count('Admitted requests that waited at most the bound.'), {
          maxItems: MAX_SIGNALS,
          description:
            'Cumulative: `counts[i]` admitted requests waited ≤ `boundsMs[i]` (the +Inf bucket is `count`).',
        }),
        sumMs: Count('Milliseconds waited by admitted requests: cumulative.'),
        count: Count(
          'Admitted requests, those admitted at once with a wait of 0: cumulative (equals `acquired`).',
        ),
      },
      { description: 'How long admitted requests waited in the queue: a histogram, Prometheus-style.' },
    ),
    partitions: NameMap(LimitPartitionRowSchema, {
      maxProperties: MAX_SIGNALS,
      maxKey: MAX_KEY,
      description: 'Per partition, by name (`default` for a limit without partitions).',
    }),
  },
  {
    title: 'LimitRow',
    description: 'One @beamline/limit adaptive concurrency limit, summed over its threads.',
  },
)

const DelaySeconds = (stat: string) => Seconds(`\`nodejs.eventloop.delay.${stat}\`, seconds.`)

export const RuntimeSchema = Type.Object(
  {
    windowSeconds: Seconds('Length of the window the delay and utilization describe (1 s).'),
    eventLoopDelay: Type.Object(
      {
        min: DelaySeconds('min'),
        max: DelaySeconds('max'),
        mean: DelaySeconds('mean'),
        stddev: DelaySeconds('stddev'),
        p50: DelaySeconds('p50'),
        p90: DelaySeconds('p90'),
        p99: DelaySeconds('p99'),
      },
      { description: 'Event-loop delay over the last complete window (10 ms resolution).' },
    ),
    eventLoopUtilization: Type.Number({
      minimum: 0,
      maximum: 1,
      description: '`nodejs.eventloop.utilization`: fraction of the window the loop was busy.',
    }),
    gc: NameMap(
      Type.Object(
        { count: Count('Collections: cumulative.'), seconds: Seconds('Time in them, seconds: cumulative.') },
        { title: 'GcTotal' },
      ),
      {
        maxProperties: MAX_GC_TYPES,
        maxKey: MAX_RUNTIME_KEY,
        description: '`v8js.gc.duration` by `v8js.gc.type` (major, minor, incremental, weakcb).',
      },
    ),
    heapSpaces: NameMap(
      Type.Object(
        {
          used: Count('`v8js.memory.heap.used`, bytes.'),
          limit: Count('`v8js.memory.heap.limit`, bytes.'),
          available: Count('`v8js.heap.space.available_size`, bytes.'),
          physical: Count('`v8js.heap.space.physical_size`, bytes.'),
        },
        { title: 'HeapSpace' },
      ),
      {
        maxProperties: MAX_HEAP_SPACES,
        maxKey: MAX_RUNTIME_KEY,
        description: 'V8 heap by `v8js.heap.space.name`.',
      },
    ),
    rssBytes: Count('`process.memory.usage`: resident set size, bytes.'),
  },
  { description: 'The serving thread’s runtime (OpenTelemetry semantic-convention names, base units).' },
)

export const SnapshotSchema = Type.Object(
  {
    schema: Type.Literal(SNAPSHOT_SCHEMA, { description: 'Document type and major version.' }),
    service: Name('The exporter’s `service` option.'),
    instance: Name('The `instance` option; `hostname:pid` by default.'),
    pid: Type.Integer({ minimum: 0, description: 'Process id.' }),
    startTime: Count(
      'When the process started, milliseconds since the Unix epoch: a new value is a restart.',
    ),
    time: Count('When the snapshot was built, milliseconds since the Unix epoch; rates use this clock.'),
    mailboxes: Nullable(MailboxesSchema, 'The mailbox registry; null when none is exported.'),
    semaphores: Type.Array(SemaphoreRowSchema, {
      maxItems: MAX_LIST,
      description: 'Semaphores, one row per name.',
    }),
    pressure: Nullable(PressureSchema, 'The pressure monitor; null when none is exported.'),
    rings: NameMap(RingSchema, {
      maxProperties: MAX_MAP,
      maxKey: MAX_KEY,
      description: 'Hash rings by the name they are exported under.',
    }),
    undici: UndiciSchema,
    limits: Type.Optional(
      Type.Array(LimitRowSchema, {
        maxItems: MAX_LIST,
        description:
          'Adaptive concurrency limits (@beamline/limit), one row per name. Exporters older than it leave it out.',
      }),
    ),
    runtime: RuntimeSchema,
    channels: Type.Optional(
      Type.Array(ChannelRowSchema, {
        maxItems: MAX_LIST,
        description:
          '@beamline/fanout channels, one row per name. Added in a v1 minor: exporters older than it leave it out.',
      }),
    ),
  },
  {
    $id: 'https://beamline.dev/schema/snapshot-v1.schema.json',
    title: 'beamline snapshot, version 1',
    description:
      'The document GET /beamline/v1/snapshot returns (docs/snapshot-schema.md). Counters are cumulative since the process started; gauges are values at `time`. Readers ignore properties they do not know: additions keep the schema id, renames or removals bump its major version.',
  },
)

/** A document as read: every field and list readonly, as the snapshot is never changed once built. */
type Immutable<T> = T extends readonly (infer U)[]
  ? readonly Immutable<U>[]
  : T extends object
    ? { readonly [K in keyof T]: Immutable<T[K]> }
    : T

export type DropCounts = Immutable<Static<typeof DropCountsSchema>>
export type MailboxGroup = Immutable<Static<typeof MailboxGroupSchema>>
export type MailboxTopRow = Immutable<Static<typeof MailboxTopRowSchema>>
export type SnapshotMailboxes = Immutable<Static<typeof MailboxesSchema>>
export type SemaphoreRow = Immutable<Static<typeof SemaphoreRowSchema>>
export type ChannelRow = Immutable<Static<typeof ChannelRowSchema>>
export type PressureReasonRow = Immutable<Static<typeof PressureReasonSchema>>
export type ShedCountRow = Immutable<Static<typeof ShedCountSchema>>
export type SnapshotPressure = Immutable<Static<typeof PressureSchema>>
export type SnapshotRing = Immutable<Static<typeof RingSchema>>
export type BulkheadRow = Immutable<Static<typeof BulkheadRowSchema>>
export type ThrottleRow = Immutable<Static<typeof ThrottleRowSchema>>
export type SnapshotUndici = Immutable<Static<typeof UndiciSchema>>
export type LimitPartitionRow = Immutable<Static<typeof LimitPartitionRowSchema>>
export type LimitRow = Immutable<Static<typeof LimitRowSchema>>
export type RuntimeSnapshot = Immutable<Static<typeof RuntimeSchema>>
/** The document `GET /beamline/v1/snapshot` returns (docs/snapshot-schema.md). */
export type Snapshot = Immutable<Static<typeof SnapshotSchema>>
