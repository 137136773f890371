/**
 * What the exporter reads, described by shape only: the exporter never imports @beamline/mailbox,
 * semaphore, pressure, ring or undici, so a service pays only for the packages it uses and any object
 * with these methods (a test double, an adapter over another library) can be exported. Every method
 * here reads counters that already live in shared memory; none allocates per mailbox.
 */

/** Message drops by cause. */
export interface DropCounts {
  /** Rejected or evicted because the mailbox was full. */
  readonly overflow: number
  /** Discarded because they waited longer than their deadline. */
  readonly expired: number
  /**
   * Still queued in a mailbox when its thread died (counted when the registry reclaimed it). Absent
   * from registries that do not reclaim dead threads.
   */
  readonly abandoned?: number
}

/** Totals of one mailbox group (or of every group). */
export interface MailboxGroupStats {
  /** Messages waiting now. */
  readonly queued: number
  /** Mailboxes with at least one waiting message. */
  readonly nonEmpty: number
  /** Length of the longest mailbox of the group. */
  readonly longest: number
  /** Mailboxes in the group. */
  readonly mailboxes: number
  readonly enqueued: number
  readonly dequeued: number
  readonly rejected: number
  readonly dropped: DropCounts
}

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

/** One row of `MailboxRegistry#top(n)`. */
export interface MailboxTopEntry {
  readonly name: string
  readonly group: string
  readonly length: number
  readonly peak: number
  readonly enqueued: number
  readonly dequeued: number
  readonly rejected: number
  readonly dropped: DropCounts
  /** Age of the oldest waiting message in milliseconds (0 when empty). */
  readonly oldestAgeMs: number
  /** A sampled queue (`registry.observe`), whose items have no age: the snapshot serves null. */
  readonly observed?: boolean
}

/** A mailbox registry (@beamline/mailbox). */
export interface MailboxRegistryLike {
  stats(): MailboxRegistryStats
  top(n: number): readonly MailboxTopEntry[]
  /** Both from one pass over the slots; used instead of the two calls when present. */
  snapshot?(n: number): { stats: MailboxRegistryStats; top: readonly MailboxTopEntry[] }
}

/** `Semaphore#stats()` of @beamline/semaphore. */
export interface SemaphoreStats {
  readonly name: string
  readonly max: number
  readonly inUse: number
  readonly waiting: number
  readonly acquired: number
  readonly rejected: number
  readonly timedOut: number
  readonly peakInUse: number
  /**
   * May come from a 32-bit word that wraps (negative past 2^31): the exporter widens it, assuming
   * fewer than 2^32 reclaims between two reads.
   */
  readonly reclaimed: number
}

export interface SemaphoreLike {
  stats(): SemaphoreStats
}

/** One signal over its throttle or shed threshold (`PressureMonitor#reasons`). */
export interface PressureReason {
  readonly signal: string
  readonly value: number
  readonly throttle: number
  readonly shed: number
  readonly level: number
}

/** Requests shed, by route and reason (`PressureMonitor#shedStats()`). */
export interface ShedCount {
  readonly route: string
  readonly reason: string
  readonly count: number
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

/** One origin of an @beamline/undici bulkhead. */
export interface BulkheadStats {
  readonly key: string
  readonly active: number
  readonly queued: number
  readonly admitted: number
  readonly queuedTotal: number
  readonly rejected: number
  readonly timedOut: number
  readonly aborted: number
}

/** One origin of an @beamline/undici client-side throttle (Google SRE adaptive throttling). */
export interface ThrottleStats {
  readonly key: string
  /** Requests in the sliding window: a gauge, it falls as the window slides. */
  readonly requests: number
  /** Accepted requests in the sliding window: a gauge. */
  readonly accepts: number
  readonly probability: number
  /** Requests refused locally since the key was first seen: a counter. */
  readonly throttled: number
  /** Requests counted since the key was first seen: a counter. Optional for older throttles. */
  readonly requestsTotal?: number
  /** Accepted requests since the key was first seen: a counter. Optional for older throttles. */
  readonly acceptsTotal?: number
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
}
