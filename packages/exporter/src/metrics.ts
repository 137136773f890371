import type { LimitRow, Snapshot } from './snapshot-schema.js'

/**
 * One metric of the catalogue. `name` is the Prometheus name (base units, counters end in `_total`);
 * `otel` is the OpenTelemetry instrument name and UCUM unit the same value is reported under, so an
 * OTel Collector's Prometheus exporter, which appends the unit and `_total`, lands on `name` again.
 */
export interface MetricDef {
  readonly name: string
  readonly type: 'counter' | 'gauge'
  readonly help: string
  /** Labels beyond `service` and `instance`, in the order `forEachSample` passes their values. */
  readonly labels: readonly string[]
  /** Base unit of the value (`seconds`, `bytes`, `messages`, `ratio`, …); '' for plain counts and levels. */
  readonly unit: string
  readonly otel: { readonly name: string; readonly unit: string }
}

/** A metric definition from its parts; `otel` is `[name, unit]` of the OpenTelemetry instrument. */
export function metric(
  name: string,
  type: MetricDef['type'],
  labels: readonly string[],
  unit: string,
  otel: readonly [string, string],
  help: string,
): MetricDef {
  return { name, type, help, labels, unit, otel: { name: otel[0], unit: otel[1] } }
}

const g = 'gauge'
const c = 'counter'

/** Metrics read straight off one snapshot: what `promCollector` and `otelInstruments` register in the service. */
export const SNAPSHOT_METRICS = {
  mailboxQueued: metric(
    'beamline_mailbox_queued_messages',
    g,
    ['group'],
    'messages',
    ['beamline.mailbox.queued_messages', '{message}'],
    'Messages waiting in the mailboxes of the group.',
  ),
  mailboxNonEmpty: metric(
    'beamline_mailbox_nonempty',
    g,
    ['group'],
    '',
    ['beamline.mailbox.nonempty', '{mailbox}'],
    'Mailboxes of the group holding at least one message.',
  ),
  mailboxLongest: metric(
    'beamline_mailbox_longest',
    g,
    ['group'],
    'messages',
    ['beamline.mailbox.longest', '{message}'],
    'Length of the longest mailbox of the group.',
  ),
  mailboxes: metric(
    'beamline_mailbox_mailboxes',
    g,
    ['group'],
    '',
    ['beamline.mailbox.mailboxes', '{mailbox}'],
    'Mailboxes in the group.',
  ),
  mailboxEnqueued: metric(
    'beamline_mailbox_enqueued_total',
    c,
    ['group'],
    'messages',
    ['beamline.mailbox.enqueued', '{message}'],
    'Messages accepted into mailboxes of the group.',
  ),
  mailboxDequeued: metric(
    'beamline_mailbox_dequeued_total',
    c,
    ['group'],
    'messages',
    ['beamline.mailbox.dequeued', '{message}'],
    'Messages taken out of mailboxes of the group.',
  ),
  mailboxRejected: metric(
    'beamline_mailbox_rejected_total',
    c,
    ['group'],
    'messages',
    ['beamline.mailbox.rejected', '{message}'],
    'Messages refused at enqueue because the mailbox was full (reject policy).',
  ),
  mailboxDropped: metric(
    'beamline_mailbox_dropped_total',
    c,
    ['group', 'reason'],
    'messages',
    ['beamline.mailbox.dropped', '{message}'],
    'Messages dropped after being accepted, by reason (overflow: evicted from a full mailbox; expired: waited past their deadline; abandoned: still queued when their thread died).',
  ),
  semaphoreInUse: metric(
    'beamline_semaphore_in_use',
    g,
    ['semaphore'],
    '',
    ['beamline.semaphore.in_use', '{permit}'],
    'Permits held now.',
  ),
  semaphoreMax: metric(
    'beamline_semaphore_max',
    g,
    ['semaphore'],
    '',
    ['beamline.semaphore.max', '{permit}'],
    'Permits the semaphore has.',
  ),
  semaphoreWaiting: metric(
    'beamline_semaphore_waiting',
    g,
    ['semaphore'],
    '',
    ['beamline.semaphore.waiting', '{waiter}'],
    'Callers queued for a permit.',
  ),
  semaphoreAcquired: metric(
    'beamline_semaphore_acquired_total',
    c,
    ['semaphore'],
    '',
    ['beamline.semaphore.acquired', '{acquisition}'],
    'Acquisitions granted, one per call whatever its permits.',
  ),
  semaphoreRejected: metric(
    'beamline_semaphore_rejected_total',
    c,
    ['semaphore'],
    '',
    ['beamline.semaphore.rejected', '{acquisition}'],
    'Acquisitions refused: no free permit, or the wait queue was full.',
  ),
  semaphoreTimedOut: metric(
    'beamline_semaphore_timed_out_total',
    c,
    ['semaphore'],
    '',
    ['beamline.semaphore.timed_out', '{acquisition}'],
    'Acquisitions that stopped waiting without a permit: timeout, abort, or their thread exited.',
  ),
  semaphoreReclaimed: metric(
    'beamline_semaphore_reclaimed_total',
    c,
    ['semaphore'],
    '',
    ['beamline.semaphore.reclaimed', '{permit}'],
    'Permits returned on behalf of threads that died holding them.',
  ),
  pressureLevel: metric(
    'beamline_pressure_level',
    g,
    [],
    '',
    ['beamline.pressure.level', '1'],
    'Pressure level: 0 ok, 1 throttle, 2 shed.',
  ),
  pressureScore: metric(
    'beamline_pressure_score',
    g,
    [],
    '',
    ['beamline.pressure.score', '1'],
    'Pressure score: the highest signal value relative to its thresholds.',
  ),
  pressureQueuedMessages: metric(
    'beamline_pressure_queued_messages',
    g,
    [],
    'messages',
    ['beamline.pressure.queued_messages', '{message}'],
    'Pressure signal queuedMessages: messages waiting in every mailbox of the registry, at the last sample.',
  ),
  pressureLongestQueue: metric(
    'beamline_pressure_longest_queue_messages',
    g,
    [],
    'messages',
    ['beamline.pressure.longest_queue_messages', '{message}'],
    'Pressure signal longestQueue: length of the longest mailbox, at the last sample.',
  ),
  pressureGc: metric(
    'beamline_pressure_gc_ratio',
    g,
    [],
    'ratio',
    ['beamline.pressure.gc', '1'],
    "Pressure signal gcFraction: fraction of wall time spent in GC over the monitor's windowMs.",
  ),
  pressureEventLoopDelayP99: metric(
    'beamline_pressure_event_loop_delay_p99_seconds',
    g,
    [],
    'seconds',
    ['beamline.pressure.event_loop.delay.p99', 's'],
    "Pressure signal eventLoopDelayP99Ms, in seconds: the largest event-loop delay p99 over the monitor's windowMs.",
  ),
  pressureEventLoopUtilization: metric(
    'beamline_pressure_event_loop_utilization_ratio',
    g,
    [],
    'ratio',
    ['beamline.pressure.event_loop.utilization', '1'],
    "Pressure signal eventLoopUtilization: fraction of the monitor's windowMs the event loop was busy.",
  ),
  pressureHeapUsed: metric(
    'beamline_pressure_heap_used_ratio',
    g,
    [],
    'ratio',
    ['beamline.pressure.heap.used', '1'],
    'Pressure signal heapUsedRatio: V8 used heap over the heap size limit, at the last sample.',
  ),
  shed: metric(
    'beamline_shed_total',
    c,
    ['reason', 'route'],
    '',
    ['beamline.shed', '{request}'],
    'Requests shed under pressure, by reason and route.',
  ),
  ringNodes: metric(
    'beamline_ring_nodes',
    g,
    ['ring'],
    '',
    ['beamline.ring.nodes', '{node}'],
    'Nodes in the hash ring.',
  ),
  ringVersion: metric(
    'beamline_ring_version',
    g,
    ['ring'],
    '',
    ['beamline.ring.version', '1'],
    'Generation of the hash ring; changes on every membership change.',
  ),
  undiciRequests: metric(
    'beamline_undici_requests_total',
    c,
    ['origin', 'outcome'],
    '',
    ['beamline.undici.requests', '{request}'],
    'Outbound requests through a bulkhead by outcome (admitted, rejected, timed_out, aborted).',
  ),
  undiciQueuedTotal: metric(
    // Not `beamline_undici_queued_total`: OpenMetrics would make it one family with the gauge below.
    'beamline_undici_queued_requests_total',
    c,
    ['origin'],
    '',
    ['beamline.undici.queued_requests', '{request}'],
    'Outbound requests that had to wait in the bulkhead queue.',
  ),
  undiciActive: metric(
    'beamline_undici_active',
    g,
    ['origin'],
    '',
    ['beamline.undici.active', '{request}'],
    'Outbound requests in flight through the bulkhead.',
  ),
  undiciQueued: metric(
    'beamline_undici_queued',
    g,
    ['origin'],
    '',
    ['beamline.undici.queued', '{request}'],
    'Outbound requests waiting in the bulkhead queue.',
  ),
  undiciThrottleProbability: metric(
    'beamline_undici_throttle_probability',
    g,
    ['origin'],
    'ratio',
    ['beamline.undici.throttle.probability', '1'],
    'Probability that the client-side throttle rejects the next request (Google SRE adaptive throttling).',
  ),
  undiciThrottleWindowRequests: metric(
    'beamline_undici_throttle_window_requests',
    g,
    ['origin'],
    '',
    ['beamline.undici.throttle.window.requests', '{request}'],
    "Requests with a known outcome in the throttle's sliding window (windowMs); falls as the window slides.",
  ),
  undiciThrottleWindowAccepts: metric(
    'beamline_undici_throttle_window_accepts',
    g,
    ['origin'],
    '',
    ['beamline.undici.throttle.window.accepts', '{request}'],
    "Requests of the throttle's sliding window that the backend accepted; falls as the window slides.",
  ),
  undiciThrottleRequests: metric(
    'beamline_undici_throttle_requests_total',
    c,
    ['origin'],
    '',
    ['beamline.undici.throttle.requests', '{request}'],
    'Requests the throttle counted (answered, failed or refused locally).',
  ),
  undiciThrottleAccepts: metric(
    'beamline_undici_throttle_accepts_total',
    c,
    ['origin'],
    '',
    ['beamline.undici.throttle.accepts', '{request}'],
    'Requests the backend accepted (neither 5xx nor 429).',
  ),
  undiciThrottled: metric(
    'beamline_undici_throttled_total',
    c,
    ['origin'],
    '',
    ['beamline.undici.throttle.throttled', '{request}'],
    'Requests rejected locally by the throttle.',
  ),
  undiciLimit: metric(
    'beamline_undici_limit',
    g,
    ['origin'],
    '',
    ['beamline.undici.limit', '{request}'],
    "The bulkhead's concurrency limit for the origin: maxConcurrent, or its adaptive limit now.",
  ),
  limitLimit: metric(
    'beamline_limit_limit',
    g,
    ['limit'],
    '',
    ['beamline.limit.limit', '{request}'],
    'The adaptive concurrency limit in force (@beamline/limit).',
  ),
  limitMinLimit: metric(
    'beamline_limit_min_limit',
    g,
    ['limit'],
    '',
    ['beamline.limit.min_limit', '{request}'],
    'The floor the adaptive limit never falls below (minLimit); a limit held there means the downstream is failing.',
  ),
  limitInFlight: metric(
    'beamline_limit_in_flight',
    g,
    ['limit', 'partition'],
    '',
    ['beamline.limit.in_flight', '{request}'],
    'Tokens of the limit held now, every thread, by partition (default without partitions).',
  ),
  limitQueued: metric(
    'beamline_limit_queued',
    g,
    ['limit', 'partition'],
    '',
    ['beamline.limit.queued', '{request}'],
    "Requests waiting in the limit's queue now, by partition.",
  ),
  limitMinRtt: metric(
    'beamline_limit_min_rtt_seconds',
    g,
    ['limit'],
    'seconds',
    ['beamline.limit.min_rtt', 's'],
    'The estimated round-trip time without queueing (absent before the first window with samples).',
  ),
  limitSampleRtt: metric(
    'beamline_limit_sample_rtt_seconds',
    g,
    ['limit'],
    'seconds',
    ['beamline.limit.sample_rtt', 's'],
    "The last update window's mean round-trip time of successful requests.",
  ),
  limitRequests: metric(
    'beamline_limit_requests_total',
    c,
    ['limit', 'partition', 'outcome'],
    '',
    ['beamline.limit.requests', '{request}'],
    'Requests asking the limit for a token, by partition and outcome (acquired, rejected: at the limit; queue_full; timed_out: waited in vain, CoDel or a deadline; aborted); the outcomes sum to the attempts.',
  ),
  limitCompleted: metric(
    'beamline_limit_completed_total',
    c,
    ['limit', 'partition', 'outcome'],
    '',
    ['beamline.limit.completed', '{request}'],
    'Admitted requests that ended, by partition and outcome (succeeded; dropped: failed from overload, the limit backs off; ignored).',
  ),
  limitQueueTime: metric(
    'beamline_limit_queue_time_seconds_total',
    c,
    ['limit'],
    'seconds',
    ['beamline.limit.queue_time', 's'],
    "Time admitted requests waited in the limit's queue; divided by the rate of acquired requests, the mean wait.",
  ),
  // @beamline/fanout channels.
  channelFrames: metric(
    'beamline_channel_frames_total',
    c,
    ['channel', 'direction'],
    '',
    ['beamline.channel.frames', '{frame}'],
    'Frames through the channel by direction: sent (written), received (taken out by the consumer), refused (trySend() on a full channel).',
  ),
  channelBytes: metric(
    'beamline_channel_bytes_total',
    c,
    ['channel', 'direction'],
    'bytes',
    ['beamline.channel.bytes', 'By'],
    'Payload bytes of those frames, by direction (sent, received, refused).',
  ),
  channelUsedBytes: metric(
    'beamline_channel_used_bytes',
    g,
    ['channel'],
    'bytes',
    ['beamline.channel.used', 'By'],
    'Bytes of the ring taken by frames not yet received, headers and padding included.',
  ),
  channelCapacityBytes: metric(
    'beamline_channel_capacity_bytes',
    g,
    ['channel'],
    'bytes',
    ['beamline.channel.capacity', 'By'],
    'Bytes of the ring.',
  ),
  channelQueuedFrames: metric(
    'beamline_channel_queued_frames',
    g,
    ['channel'],
    '',
    ['beamline.channel.queued_frames', '{frame}'],
    'Frames sent and not yet received.',
  ),
  channelTimedOut: metric(
    'beamline_channel_timed_out_total',
    c,
    ['channel'],
    '',
    ['beamline.channel.timed_out', '{send}'],
    'send() calls that found no room before their deadline.',
  ),
  channelAbandoned: metric(
    'beamline_channel_abandoned_frames_total',
    c,
    ['channel'],
    '',
    ['beamline.channel.abandoned_frames', '{frame}'],
    'Frames whose producer thread died while writing them, skipped by the consumer.',
  ),
  channelWaitingSenders: metric(
    'beamline_channel_waiting_senders',
    g,
    ['channel'],
    '',
    ['beamline.channel.waiting_senders', '{send}'],
    'send() calls parked for room, all threads.',
  ),
  eventLoopDelayMin: metric(
    'beamline_nodejs_eventloop_delay_min_seconds',
    g,
    [],
    'seconds',
    ['nodejs.eventloop.delay.min', 's'],
    'Event loop delay, minimum over the last window.',
  ),
  eventLoopDelayMax: metric(
    'beamline_nodejs_eventloop_delay_max_seconds',
    g,
    [],
    'seconds',
    ['nodejs.eventloop.delay.max', 's'],
    'Event loop delay, maximum over the last window.',
  ),
  eventLoopDelayMean: metric(
    'beamline_nodejs_eventloop_delay_mean_seconds',
    g,
    [],
    'seconds',
    ['nodejs.eventloop.delay.mean', 's'],
    'Event loop delay, mean over the last window.',
  ),
  eventLoopDelayStddev: metric(
    'beamline_nodejs_eventloop_delay_stddev_seconds',
    g,
    [],
    'seconds',
    ['nodejs.eventloop.delay.stddev', 's'],
    'Event loop delay, standard deviation over the last window.',
  ),
  eventLoopDelayP50: metric(
    'beamline_nodejs_eventloop_delay_p50_seconds',
    g,
    [],
    'seconds',
    ['nodejs.eventloop.delay.p50', 's'],
    'Event loop delay, 50th percentile over the last window.',
  ),
  eventLoopDelayP90: metric(
    'beamline_nodejs_eventloop_delay_p90_seconds',
    g,
    [],
    'seconds',
    ['nodejs.eventloop.delay.p90', 's'],
    'Event loop delay, 90th percentile over the last window.',
  ),
  eventLoopDelayP99: metric(
    'beamline_nodejs_eventloop_delay_p99_seconds',
    g,
    [],
    'seconds',
    ['nodejs.eventloop.delay.p99', 's'],
    'Event loop delay, 99th percentile over the last window.',
  ),
  eventLoopUtilization: metric(
    'beamline_nodejs_eventloop_utilization',
    g,
    [],
    'ratio',
    ['nodejs.eventloop.utilization', '1'],
    'Fraction of the last window the event loop was busy.',
  ),
  gcDuration: metric(
    'beamline_v8js_gc_duration_seconds_total',
    c,
    ['gc_type'],
    'seconds',
    ['beamline.v8js.gc.duration', 's'],
    'Time spent in garbage collection, by v8js.gc.type.',
  ),
  gcCollections: metric(
    'beamline_v8js_gc_collections_total',
    c,
    ['gc_type'],
    '',
    ['beamline.v8js.gc.collections', '{collection}'],
    'Garbage collections, by v8js.gc.type.',
  ),
  heapUsed: metric(
    'beamline_v8js_memory_heap_used_bytes',
    g,
    ['heap_space'],
    'bytes',
    ['v8js.memory.heap.used', 'By'],
    'V8 heap memory used, by heap space.',
  ),
  heapLimit: metric(
    'beamline_v8js_memory_heap_limit_bytes',
    g,
    ['heap_space'],
    'bytes',
    ['v8js.memory.heap.limit', 'By'],
    'V8 heap memory reserved, by heap space.',
  ),
  heapAvailable: metric(
    'beamline_v8js_heap_space_available_size_bytes',
    g,
    ['heap_space'],
    'bytes',
    ['v8js.heap.space.available_size', 'By'],
    'V8 heap space still available, by heap space.',
  ),
  heapPhysical: metric(
    'beamline_v8js_heap_space_physical_size_bytes',
    g,
    ['heap_space'],
    'bytes',
    ['v8js.heap.space.physical_size', 'By'],
    'V8 heap space committed in physical memory, by heap space.',
  ),
  rss: metric(
    'beamline_process_memory_usage_bytes',
    g,
    [],
    'bytes',
    ['process.memory.usage', 'By'],
    'Resident set size of the process.',
  ),
  startTime: metric(
    'beamline_process_start_time_seconds',
    g,
    [],
    'seconds',
    ['beamline.process.start_time', 's'],
    'When the process started, seconds since the Unix epoch.',
  ),
} as const satisfies Record<string, MetricDef>

/** Receives one sample: `labels` are the values of `def.labels`, in order. */
export type SampleSink = (def: MetricDef, labels: readonly string[], value: number) => void

/**
 * Passes each series once: a snapshot's lists (semaphores by name, shed counts by reason and route)
 * can name one series twice, which Prometheus refuses and a store would silently overwrite. The first
 * is kept; the others go to `onDuplicate`.
 */
function unique(sink: SampleSink, onDuplicate: SampleSink | undefined): SampleSink {
  const seen = new Set<string>()
  return (def, labels, value) => {
    const key = labels.length === 0 ? def.name : `${def.name}\0${labels.join('\0')}`
    if (seen.has(key)) return onDuplicate?.(def, labels, value)
    seen.add(key)
    sink(def, labels, value)
  }
}

const M = SNAPSHOT_METRICS

/**
 * The metric of each PressureMonitor signal, one unit per metric, and the factor from the signal's
 * unit to the metric's base unit. Signals not listed here (from a newer monitor) stay in the JSON only.
 */
const PRESSURE_SIGNALS: ReadonlyMap<string, { readonly def: MetricDef; readonly scale: number }> = new Map([
  ['queuedMessages', { def: M.pressureQueuedMessages, scale: 1 }],
  ['longestQueue', { def: M.pressureLongestQueue, scale: 1 }],
  ['gcFraction', { def: M.pressureGc, scale: 1 }],
  ['eventLoopDelayP99Ms', { def: M.pressureEventLoopDelayP99, scale: 1e-3 }],
  ['eventLoopUtilization', { def: M.pressureEventLoopUtilization, scale: 1 }],
  ['heapUsedRatio', { def: M.pressureHeapUsed, scale: 1 }],
])

/**
 * What samples are read from: a whole snapshot (the sidecar), or the sections the in-process
 * collectors read straight from the sources, with the runtime only when they export it.
 */
export type SampleSections = Pick<Snapshot, 'mailboxes' | 'semaphores' | 'pressure' | 'rings' | 'undici'> &
  Partial<Pick<Snapshot, 'limits' | 'channels' | 'runtime' | 'startTime'>>

/**
 * Passes every sample of `SNAPSHOT_METRICS` in `s` to `sink`, each series once (a repeated one goes
 * to `onDuplicate`): the one translation from snapshot sections to metrics, used by the in-process
 * collectors and by the sidecar alike. Per-mailbox names never become labels (cardinality); the
 * top-N list stays in the JSON. The runtime metrics need both `runtime` and `startTime`.
 */
export function forEachSample(s: SampleSections, sink: SampleSink, onDuplicate?: SampleSink): void {
  const emit = unique(sink, onDuplicate)
  const mb = s.mailboxes
  if (mb) {
    for (const [group, v] of Object.entries(mb.groups)) {
      const l = [group]
      emit(M.mailboxQueued, l, v.queued)
      emit(M.mailboxNonEmpty, l, v.nonEmpty)
      emit(M.mailboxLongest, l, v.longest)
      emit(M.mailboxes, l, v.mailboxes)
      emit(M.mailboxEnqueued, l, v.enqueued)
      emit(M.mailboxDequeued, l, v.dequeued)
      emit(M.mailboxRejected, l, v.rejected)
      emit(M.mailboxDropped, [group, 'overflow'], v.dropped.overflow)
      emit(M.mailboxDropped, [group, 'expired'], v.dropped.expired)
      // Absent in snapshots of exporters older than the field: no series rather than a made-up 0.
      if (v.dropped.abandoned !== undefined) emit(M.mailboxDropped, [group, 'abandoned'], v.dropped.abandoned)
    }
  }
  for (const sem of s.semaphores) {
    const l = [sem.name]
    emit(M.semaphoreInUse, l, sem.inUse)
    emit(M.semaphoreMax, l, sem.max)
    emit(M.semaphoreWaiting, l, sem.waiting)
    emit(M.semaphoreAcquired, l, sem.acquired)
    emit(M.semaphoreRejected, l, sem.rejected)
    emit(M.semaphoreTimedOut, l, sem.timedOut)
    emit(M.semaphoreReclaimed, l, sem.reclaimed)
  }
  const p = s.pressure
  if (p) {
    emit(M.pressureLevel, [], p.level)
    emit(M.pressureScore, [], p.score)
    for (const [signal, value] of Object.entries(p.signals)) {
      const known = PRESSURE_SIGNALS.get(signal)
      if (known) emit(known.def, [], value * known.scale)
    }
    for (const shed of p.shed) emit(M.shed, [shed.reason, shed.route], shed.count)
  }
  for (const [ring, r] of Object.entries(s.rings)) {
    emit(M.ringNodes, [ring], r.nodes)
    emit(M.ringVersion, [ring], r.version)
  }
  for (const b of s.undici.bulkheads) {
    emit(M.undiciRequests, [b.key, 'admitted'], b.admitted)
    emit(M.undiciRequests, [b.key, 'rejected'], b.rejected)
    emit(M.undiciRequests, [b.key, 'timed_out'], b.timedOut)
    emit(M.undiciRequests, [b.key, 'aborted'], b.aborted)
    emit(M.undiciQueuedTotal, [b.key], b.queuedTotal)
    emit(M.undiciActive, [b.key], b.active)
    emit(M.undiciQueued, [b.key], b.queued)
    if (b.limit !== undefined) emit(M.undiciLimit, [b.key], b.limit)
  }
  for (const t of s.undici.throttles) {
    emit(M.undiciThrottleProbability, [t.key], t.probability)
    emit(M.undiciThrottleWindowRequests, [t.key], t.requests)
    emit(M.undiciThrottleWindowAccepts, [t.key], t.accepts)
    // Absent from the snapshots of exporters older than these counters.
    if (t.requestsTotal !== undefined) emit(M.undiciThrottleRequests, [t.key], t.requestsTotal)
    if (t.acceptsTotal !== undefined) emit(M.undiciThrottleAccepts, [t.key], t.acceptsTotal)
    emit(M.undiciThrottled, [t.key], t.throttled)
  }
  for (const l of s.limits ?? []) emitLimit(emit, l)
  // Absent from the snapshots of exporters older than channels.
  for (const ch of s.channels ?? []) {
    const l = [ch.name]
    const directions = [
      ['sent', ch.framesSent, ch.bytesSent],
      ['received', ch.framesReceived, ch.bytesReceived],
      ['refused', ch.framesRefused, ch.bytesRefused],
    ] as const
    for (const [direction, frames] of directions) emit(M.channelFrames, [ch.name, direction], frames)
    for (const [direction, , bytes] of directions) emit(M.channelBytes, [ch.name, direction], bytes)
    emit(M.channelUsedBytes, l, ch.usedBytes)
    emit(M.channelCapacityBytes, l, ch.capacityBytes)
    emit(M.channelQueuedFrames, l, ch.queuedFrames)
    emit(M.channelTimedOut, l, ch.timedOut)
    emit(M.channelAbandoned, l, ch.abandoned)
    emit(M.channelWaitingSenders, l, ch.waitingSenders)
  }
  const rt = s.runtime
  if (rt === undefined || s.startTime === undefined) return
  const d = rt.eventLoopDelay
  emit(M.eventLoopDelayMin, [], d.min)
  emit(M.eventLoopDelayMax, [], d.max)
  emit(M.eventLoopDelayMean, [], d.mean)
  emit(M.eventLoopDelayStddev, [], d.stddev)
  emit(M.eventLoopDelayP50, [], d.p50)
  emit(M.eventLoopDelayP90, [], d.p90)
  emit(M.eventLoopDelayP99, [], d.p99)
  emit(M.eventLoopUtilization, [], rt.eventLoopUtilization)
  for (const [type, gc] of Object.entries(rt.gc)) {
    emit(M.gcDuration, [type], gc.seconds)
    emit(M.gcCollections, [type], gc.count)
  }
  for (const [space, h] of Object.entries(rt.heapSpaces)) {
    emit(M.heapUsed, [space], h.used)
    emit(M.heapLimit, [space], h.limit)
    emit(M.heapAvailable, [space], h.available)
    emit(M.heapPhysical, [space], h.physical)
  }
  emit(M.rss, [], rt.rssBytes)
  emit(M.startTime, [], s.startTime / 1000)
}

/** Outcomes of an attempt (`beamline_limit_requests_total`) and of a token (`…_completed_total`). */
const LIMIT_ATTEMPTS = [
  ['acquired', 'acquired'],
  ['rejected', 'rejected'],
  ['queueFull', 'queue_full'],
  ['timedOut', 'timed_out'],
  ['aborted', 'aborted'],
] as const
const LIMIT_COMPLETIONS = [
  ['succeeded', 'succeeded'],
  ['dropped', 'dropped'],
  ['ignored', 'ignored'],
] as const

function emitLimit(emit: SampleSink, l: LimitRow): void {
  const name = [l.name]
  emit(M.limitLimit, name, l.limit)
  emit(M.limitMinLimit, name, l.minLimit)
  // Null before the first window: no series rather than a made-up 0.
  if (l.minRttMs !== null) emit(M.limitMinRtt, name, l.minRttMs / 1000)
  if (l.sampleRttMs !== null) emit(M.limitSampleRtt, name, l.sampleRttMs / 1000)
  emit(M.limitQueueTime, name, l.queueTime.sumMs / 1000)
  for (const [partition, p] of Object.entries(l.partitions)) {
    emit(M.limitInFlight, [l.name, partition], p.inFlight)
    emit(M.limitQueued, [l.name, partition], p.queued)
    for (const [field, outcome] of LIMIT_ATTEMPTS)
      emit(M.limitRequests, [l.name, partition, outcome], p[field])
    for (const [field, outcome] of LIMIT_COMPLETIONS)
      emit(M.limitCompleted, [l.name, partition, outcome], p[field])
  }
}
