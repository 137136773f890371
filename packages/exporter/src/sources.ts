/**
 * What the exporter reads, described by shape only: the exporter never imports @beamline/mailbox,
 * semaphore, pressure, ring, fanout or undici, so a service pays only for the packages it uses and any object
 * with these methods (a test double, an adapter over another library) can be exported. Every method
 * here reads counters that already live in shared memory; none allocates per mailbox.
 */

import type {
  BulkheadRow,
  ChannelRow,
  DropCounts,
  MailboxGroup,
  MailboxTopRow,
  PressureReasonRow,
  SemaphoreRow,
  ShedCountRow,
  ThrottleRow,
} from './snapshot-schema.js'

/*
 * Where a source returns exactly a row of the snapshot, its shape is that row's type, derived from the
 * snapshot's one definition (./snapshot-schema.ts), so a field added there is accepted here too.
 */
export type { DropCounts }
/** Totals of one mailbox group (or of every group). */
export type MailboxGroupStats = MailboxGroup
/**
 * One row of `MailboxRegistry#top(n)`: the snapshot's row, except that the registry gives an age for
 * every row and says which rows are observed queues, whose age the snapshot serves as null.
 */
export interface MailboxTopEntry extends Omit<MailboxTopRow, 'oldestAgeMs'> {
  readonly oldestAgeMs: number
  /** A sampled queue (`registry.observe`), whose items have no age. */
  readonly observed?: boolean
}
/** `Semaphore#stats()` of @beamline/semaphore. `reclaimed` may come from a 32-bit word that wraps
 * (negative past 2^31): the exporter widens it, assuming fewer than 2^32 reclaims between two reads. */
export type SemaphoreStats = SemaphoreRow
/** One signal over its throttle or shed threshold (`PressureMonitor#reasons`). */
export type PressureReason = PressureReasonRow
/** Requests shed, by route and reason (`PressureMonitor#shedStats()`). */
export type ShedCount = ShedCountRow
/** One origin of an @beamline/undici bulkhead. */
export type BulkheadStats = BulkheadRow
/** One origin of an @beamline/undici client-side throttle (Google SRE adaptive throttling); the
 * `*Total` counters are optional for older throttles. */
export type ThrottleStats = ThrottleRow

/** `MailboxRegistry#stats()` of @beamline/mailbox. */
export interface MailboxRegistryStats {
  readonly totalQueued: number
  readonly nonEmpty: number
  readonly longest: { readonly name: string; readonly group: string; readonly length: number } | null
  readonly enqueued: number
  readonly dequeued: number
  readonly rejected: number
  readonly dropped: DropCounts
  readonly mailboxes: number
  readonly byGroup: Readonly<Record<string, MailboxGroupStats>>
  /** Mailboxes whose name did not fit the shared name table (counted, not named). */
  readonly overflowNames?: number
}

/** A mailbox registry (@beamline/mailbox). */
export interface MailboxRegistryLike {
  stats(): MailboxRegistryStats
  top(n: number): readonly MailboxTopEntry[]
  /** Both from one pass over the slots; used instead of the two calls when present. */
  snapshot?(n: number): { stats: MailboxRegistryStats; top: readonly MailboxTopEntry[] }
}

export interface SemaphoreLike {
  stats(): SemaphoreStats
}

/** `Channel#stats()` of @beamline/fanout; fields beyond the row (e.g. `closed`) are not exported. */
export type ChannelStats = ChannelRow

/** A channel of @beamline/fanout. */
export interface ChannelLike {
  stats(): ChannelStats
}

/** A pressure monitor (@beamline/pressure). */
export interface PressureLike {
  /** 0 ok, 1 throttle, 2 shed. */
  readonly level: number
  readonly score: number
  readonly reasons: readonly PressureReason[]
  signals(): Readonly<Record<string, number>>
  shedStats(): readonly ShedCount[]
}

/** A hash ring (@beamline/ring). */
export interface RingLike {
  readonly version: number
  readonly nodes: ReadonlyArray<{ readonly id: string; readonly weight: number }>
}

/**
 * Several bulkheads (or throttles) may guard one origin, e.g. one per undici `Agent`: their rows of
 * one key are summed into one (the throttle's `probability`: the highest), so the origin's series
 * count every request once.
 */
export interface UndiciSources {
  readonly bulkheads?: ReadonlyArray<{ stats(): readonly BulkheadStats[] }>
  readonly throttles?: ReadonlyArray<{ stats(): readonly ThrottleStats[] }>
}

/** One partition of `AdaptiveLimit#stats()` (@beamline/limit). */
export interface LimitPartitionStats {
  readonly share: number
  readonly guaranteed: number
  readonly inFlight: number
  readonly queued: number
  readonly acquired: number
  readonly succeeded: number
  readonly dropped: number
  readonly ignored: number
  readonly rejected: number
  readonly queueFull: number
  readonly timedOut: number
  readonly aborted: number
}

/**
 * `AdaptiveLimit#stats()` of @beamline/limit. `minRttMs` and `sampleRttMs` are NaN before the first
 * window (served as null); `queueTime.boundsMs` ends with Infinity (served without it: its count is
 * `count`).
 */
export interface LimitStats extends Omit<LimitPartitionStats, 'share' | 'guaranteed'> {
  readonly name: string
  readonly algorithm: string
  readonly limit: number
  readonly minLimit: number
  readonly maxLimit: number
  readonly minRttMs: number
  readonly sampleRttMs: number
  readonly reclaimed: number
  readonly windows: number
  readonly limitChanges: number
  readonly queueTime: {
    readonly boundsMs: readonly number[]
    readonly counts: readonly number[]
    readonly sumMs: number
    readonly count: number
  }
  readonly byPartition: Readonly<Record<string, LimitPartitionStats>>
}

/** An adaptive concurrency limit (@beamline/limit's `AdaptiveLimit`). */
export interface LimitLike {
  stats(): LimitStats
}

/** Everything one service exports. Every field is optional. */
export interface Sources {
  /** The mailbox registry whose groups, totals and top-N mailboxes are exported. */
  readonly registry?: MailboxRegistryLike
  /** Semaphores, each exported under its own `stats().name`. */
  readonly semaphores?: readonly SemaphoreLike[]
  readonly pressure?: PressureLike
  /** Hash rings by the name they are exported under (`ring` label). */
  readonly rings?: Readonly<Record<string, RingLike>>
  /** Outbound bulkheads and throttles of @beamline/undici. */
  readonly undici?: UndiciSources
  /** Adaptive concurrency limits of @beamline/limit, each exported under its own `stats().name` (`limit` label). */
  readonly limits?: readonly LimitLike[]
  /** Channels of @beamline/fanout, each exported under its own `stats().name`. */
  readonly channels?: readonly ChannelLike[]
}
