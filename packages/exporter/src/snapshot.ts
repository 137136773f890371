import { hostname } from 'node:os'
import { performance } from 'node:perf_hooks'
import { warnOnce } from '@beamline/core'
import type { RuntimeSampler } from './runtime.js'
import { MAX_LIST, MAX_NAME, SNAPSHOT_SCHEMA } from './snapshot-limits.js'
import type {
  ChannelRow,
  DropCounts,
  LimitRow,
  MailboxGroup,
  MailboxTopRow,
  SemaphoreRow,
  Snapshot,
} from './snapshot-schema.js'
import type {
  ChannelLike,
  LimitLike,
  MailboxRegistryLike,
  MailboxTopEntry,
  SemaphoreLike,
  Sources,
} from './sources.js'

export { SNAPSHOT_PATH, SNAPSHOT_SCHEMA } from './snapshot-limits.js'
export type { Snapshot } from './snapshot-schema.js'

export interface SnapshotIdentity {
  readonly service: string
  readonly instance?: string | undefined
}

/** When this process started, milliseconds since the epoch (`startTime`). */
export const START_TIME = Math.round(performance.timeOrigin)

export function defaultInstance(): string {
  return `${hostname()}:${process.pid}`
}

/** Calls `read`; on failure warns once and returns `fallback`, so one broken source never hides the others. */
function guarded<T>(what: string, read: () => T, fallback: T): T {
  try {
    return read()
  } catch (err) {
    warnOnce(
      `exporter:${what}`,
      `beamline exporter: reading ${what} failed; it is left out of snapshots`,
      err,
    )
    return fallback
  }
}

/**
 * One row per key, within the schema: keys cut to MAX_NAME, rows of one key (several bulkheads or
 * throttles guarding one origin) summed into one (`highest`: the field taken as the maximum instead,
 * the throttle's probability), then the first MAX_LIST rows.
 */
function merged<T extends { readonly key: string }>(
  what: string,
  rows: readonly T[],
  highest?: keyof T,
): T[] {
  const byKey = new Map<string, T>()
  for (const source of rows) {
    const row = source.key.length > MAX_NAME ? { ...source, key: source.key.slice(0, MAX_NAME) } : source
    const seen = byKey.get(row.key)
    if (seen === undefined) {
      byKey.set(row.key, row)
      continue
    }
    const sum: Record<string, unknown> = { key: row.key }
    for (const field of Object.keys(seen) as (keyof T & string)[]) {
      if (field === 'key') continue
      const a = seen[field]
      const b = row[field]
      // A field only one of them has (an older throttle) would be a partial sum: left out.
      if (typeof a === 'number' && typeof b === 'number')
        sum[field] = field === highest ? Math.max(a, b) : a + b
    }
    byKey.set(row.key, sum as T)
  }
  if (byKey.size > MAX_LIST) {
    warnOnce(
      `exporter:${what}:rows`,
      `beamline exporter: ${what} has ${byKey.size} keys; exporting the first ${MAX_LIST}`,
    )
  }
  const out = [...byKey.values()]
  return out.length > MAX_LIST ? out.slice(0, MAX_LIST) : out
}

/**
 * A counter kept in a 32-bit word of shared memory (`SemaphoreRow.reclaimed`), widened: each read
 * adds the increase since the previous read modulo 2^32, so it goes on past 2^31 (where an Int32 turns
 * negative) and 2^32, provided fewer than 2^32 increments happen between two reads. A value of 2^32 or
 * more comes from a source that is already wide and is passed through.
 */
class Widened {
  private last = 0
  private total = 0

  read(raw: number): number {
    if (!Number.isInteger(raw) || raw >= 2 ** 32 || raw < -(2 ** 31)) return raw
    this.total += (raw - this.last) >>> 0
    this.last = raw
    return this.total
  }
}

/** Per semaphore object, shared by every exporter and collector of the thread that reads it. */
const reclaimed = new WeakMap<object, Widened>()

function readSemaphore(source: SemaphoreLike): SemaphoreRow {
  const s = source.stats()
  let widened = reclaimed.get(source)
  if (widened === undefined) reclaimed.set(source, (widened = new Widened()))
  return { ...s, reclaimed: widened.read(s.reclaimed) }
}

/**
 * JSON.stringify replacer: JSON has no NaN or Infinity (they would become null, which the schema
 * refuses, losing the whole snapshot), so a non-finite number from a source is sent as 0, warned once.
 */
function finiteNumbers(key: string, value: unknown): unknown {
  if (typeof value !== 'number' || Number.isFinite(value)) return value
  warnOnce(`exporter:non-finite:${key}`, `beamline exporter: ${key} is ${value}; exported as 0`)
  return 0
}

/** The body `GET /beamline/v1/snapshot` serves. */
export function snapshotJson(snapshot: Snapshot): string {
  return JSON.stringify(snapshot, finiteNumbers)
}

function drops(d: DropCounts | undefined): DropCounts {
  return { overflow: d?.overflow ?? 0, expired: d?.expired ?? 0, abandoned: d?.abandoned ?? 0 }
}

/** Totals and top-N of a registry: from one pass when it has `snapshot(n)`, else from two calls. */
function readRegistry(registry: MailboxRegistryLike, topN: number) {
  if (typeof registry.snapshot === 'function') return registry.snapshot(topN)
  return { stats: registry.stats(), top: topN > 0 ? registry.top(topN) : [] }
}

/** The registry's row as the snapshot serves it: an observed queue's age is unknown, not 0. */
function topEntry({ observed, ...m }: MailboxTopEntry): MailboxTopRow {
  return observed ? { ...m, oldestAgeMs: null } : m
}

function readMailboxes(sources: Sources, topN: number): Snapshot['mailboxes'] {
  const registry = sources.registry
  if (!registry) return null
  return guarded(
    'mailbox registry',
    () => {
      const { stats: s, top } = readRegistry(registry, topN)
      const groups: Record<string, MailboxGroup> = {}
      for (const [name, g] of Object.entries(s.byGroup)) groups[name] = { ...g, dropped: drops(g.dropped) }
      return {
        totals: {
          queued: s.totalQueued,
          nonEmpty: s.nonEmpty,
          longest: s.longest?.length ?? 0,
          mailboxes: s.mailboxes,
          enqueued: s.enqueued,
          dequeued: s.dequeued,
          rejected: s.rejected,
          dropped: drops(s.dropped),
        },
        groups,
        longest: s.longest,
        top: top.map(topEntry),
        overflowNames: typeof s.overflowNames === 'number' ? s.overflowNames : 0,
      }
    },
    null,
  )
}

function readPressure(sources: Sources): Snapshot['pressure'] {
  const p = sources.pressure
  if (!p) return null
  return guarded(
    'pressure',
    () => ({
      level: p.level,
      score: p.score,
      reasons: [...p.reasons],
      signals: { ...p.signals() },
      shed: p.shedStats(),
    }),
    null,
  )
}

function readRings(sources: Sources): Snapshot['rings'] {
  const rings: Record<string, Snapshot['rings'][string]> = {}
  for (const [name, ring] of Object.entries(sources.rings ?? {})) {
    guarded(
      `ring ${name}`,
      () => {
        const nodes = ring.nodes
        let weight = 0
        for (const n of nodes) weight += n.weight
        rings[name] = { version: ring.version, nodes: nodes.length, weight }
      },
      undefined,
    )
  }
  return rings
}

/** An RTT of the limit's stats, NaN before its first window: null in the snapshot, not a made-up 0. */
const rtt = (ms: number) => (Number.isFinite(ms) ? ms : null)

function readLimit(source: LimitLike): LimitRow {
  const { byPartition, queueTime: q, minRttMs, sampleRttMs, ...s } = source.stats()
  const finite = q.boundsMs.findIndex((b) => !Number.isFinite(b))
  const buckets = finite === -1 ? q.boundsMs.length : finite
  return {
    ...s,
    name: s.name.slice(0, MAX_NAME),
    minRttMs: rtt(minRttMs),
    sampleRttMs: rtt(sampleRttMs),
    queueTime: {
      boundsMs: q.boundsMs.slice(0, buckets),
      counts: q.counts.slice(0, buckets),
      sumMs: q.sumMs,
      count: q.count,
    },
    partitions: { ...byPartition },
  }
}

/** The parts of a snapshot read from the sources: everything but identity, time and runtime. */
/** The row's fields only: `Channel#stats()` also says `closed` and `consumerWaiting`, not exported. */
function readChannel(source: ChannelLike): ChannelRow {
  const s = source.stats()
  return {
    name: s.name,
    capacityBytes: s.capacityBytes,
    usedBytes: s.usedBytes,
    queuedFrames: s.queuedFrames,
    framesSent: s.framesSent,
    bytesSent: s.bytesSent,
    framesReceived: s.framesReceived,
    bytesReceived: s.bytesReceived,
    framesRefused: s.framesRefused,
    bytesRefused: s.bytesRefused,
    timedOut: s.timedOut,
    abandoned: s.abandoned,
    waitingSenders: s.waitingSenders,
  }
}

function readChannels(sources: Sources): ChannelRow[] {
  const rows = (sources.channels ?? []).flatMap((c, i) => guarded(`channel ${i}`, () => [readChannel(c)], []))
  if (rows.length > MAX_LIST)
    warnOnce(
      'exporter:channels:rows',
      `beamline exporter: ${rows.length} channels; exporting the first ${MAX_LIST}`,
    )
  return rows.length > MAX_LIST ? rows.slice(0, MAX_LIST) : rows
}

/** The parts of a snapshot read from the sources: everything but identity, time and runtime. */
export type SourceSections = Pick<Snapshot, 'mailboxes' | 'semaphores' | 'pressure' | 'rings' | 'undici'> &
  Required<Pick<Snapshot, 'limits' | 'channels'>>

/**
 * Reads every source once, within the schema's bounds: the snapshot's sections, and what the
 * in-process collectors turn into samples (with `topN` 0). Counters only (shared memory for mailboxes
 * and semaphores): no I/O, no per-mailbox allocation beyond the top-N list. A source that throws is
 * left out and warned about once.
 */
export function readSources(sources: Sources, topN: number): SourceSections {
  return {
    mailboxes: readMailboxes(sources, topN),
    semaphores: (sources.semaphores ?? []).flatMap((s, i) =>
      guarded(`semaphore ${i}`, () => [readSemaphore(s)], []),
    ),
    pressure: readPressure(sources),
    rings: readRings(sources),
    undici: {
      bulkheads: merged(
        'undici bulkheads',
        (sources.undici?.bulkheads ?? []).flatMap((b, i) =>
          guarded(`undici bulkhead ${i}`, () => b.stats(), []),
        ),
      ),
      throttles: merged(
        'undici throttles',
        (sources.undici?.throttles ?? []).flatMap((t, i) =>
          guarded(`undici throttle ${i}`, () => t.stats(), []),
        ),
        'probability',
      ),
    },
    limits: (sources.limits ?? [])
      .slice(0, MAX_LIST)
      .flatMap((l, i) => guarded(`limit ${i}`, () => [readLimit(l)], [])),
    channels: readChannels(sources),
  }
}

/** Builds one snapshot: identity, the sources' sections and the thread's runtime. */
export function buildSnapshot(
  identity: SnapshotIdentity,
  sources: Sources,
  runtime: RuntimeSampler,
  topN: number,
): Snapshot {
  return {
    schema: SNAPSHOT_SCHEMA,
    service: identity.service,
    instance: identity.instance ?? defaultInstance(),
    pid: process.pid,
    startTime: START_TIME,
    time: Date.now(),
    ...readSources(sources, topN),
    runtime: runtime.read(),
  }
}
