/**
 * The sidecar's one store: every target's served series, the per-poll histories behind its rates and
 * peaks, and the status page's timeline. Everything is computed once per poll, when the snapshot
 * arrives, so /metrics, the OTLP push, the JSON API, the status page and `top` read the same numbers,
 * and no read changes anything.
 *
 * Invariants:
 * - A target's served series are those of its last successful poll; a failed poll removes them at
 *   once (staleness, as Prometheus marks a failed scrape's series), `beamline_target_up 0` stays.
 * - Its histories (rates, peaks) outlive a failure by `ttlMs` on the sidecar's clock, so a target
 *   back within the TTL keeps its rates continuous; a new process (another `startTime`) starts afresh.
 * - Served series never exceed `maxSeries` in all: a poll that would pass it leaves the excess out
 *   and counts it. Histories never exceed `maxSeries` either: room is made by forgetting the polled
 *   target's histories of series it no longer reports, else the new series goes without one.
 * - Every series is served once: a snapshot naming one twice keeps the first; two targets reporting
 *   one service and instance are served as `instance@target`; both are counted as collisions.
 */
import { type DropCounts, forEachSample, type MetricDef, type Snapshot } from '@beamline/exporter'
import { PEAK_METRICS, RATE_WINDOWS, SIDECAR_METRICS } from './metric-names.js'
import { POLL_ERRORS, type PollError, type PollResult } from './poller.js'
import type { Target } from './target.js'
import { Timeline } from './timeline.js'
import { Track } from './track.js'

/** One served series of a target: values of the metric's own labels (without `service`, `instance`). */
export interface Series {
  readonly def: MetricDef
  readonly labels: readonly string[]
  readonly value: number
}

/** A served series with the values of its target labels (`service`, served `instance`). */
export interface ServedSeries {
  readonly target: readonly [service: string, instance: string]
  readonly series: Series
}

/** Rate windows of one counter, as served under `/api/v1/snapshot`. */
export type Rates = Partial<Record<(typeof RATE_WINDOWS)[number]['label'], number>>

/** What a rated counter is, for the JSON API (`rates[kind][name][direction]`). */
type RateKind = 'mailbox' | 'semaphore' | 'channel' | 'gc' | 'total'

interface History {
  readonly track: Track
  /** Sidecar time of the last poll that reported the series. */
  seenAt: number
  /** Set for rated counters. */
  readonly rate?: { readonly kind: RateKind; readonly name: string; readonly direction: string }
}

/** Per-second rates of one top mailbox since the previous poll; null when unknown. */
export interface TopRate {
  readonly enqueued: number | null
  readonly dequeued: number | null
}

interface TopSample {
  readonly time: number
  readonly enqueued: number
  readonly dequeued: number
}

/** Sum of the drop counts of every reason the snapshot has (a newer exporter may have more). */
function dropped(d: DropCounts): number {
  let n = 0
  for (const v of Object.values(d) as number[]) n += v
  return n
}

/** What the sidecar knows about one target. */
export class TargetState {
  up = false
  reason: string | null = 'not polled yet'
  lastPollTime: number | null = null
  lastSuccessTime: number | null = null
  pollDurationSeconds = 0
  /** The last valid snapshot, kept while the target is down so the status page can name it. */
  snapshot: Snapshot | null = null
  /** What /metrics and OTLP serve for the target: the series of its last poll, none while it is down. */
  series: readonly Series[] = []
  /** 1 s rates of `snapshot.mailboxes.top`, in its order; empty while the target is down. */
  topRates: readonly TopRate[] = []
  /** Rate and peak histories by series. */
  readonly histories = new Map<string, History>()
  /** `service\0instance` the target reported last. */
  identity = ''
  private process = ''
  private top = new Map<string, TopSample>()

  /** `slackMs`: half the poll interval (see `Track.rate`). */
  constructor(
    readonly target: Target,
    private readonly slackMs: number,
  ) {}

  /** Forgets every history when the target is now another process (restart, or a reused socket path). */
  sameProcess(s: Snapshot): boolean {
    const id = `${s.service}\0${s.instance}\0${s.startTime}`
    if (id === this.process) return true
    this.process = id
    this.histories.clear()
    this.top.clear()
    return false
  }

  /** Per-second rate of one counter over `windowMs` (default 1 s); undefined when unknown or down. */
  rate(kind: RateKind, name: string, direction: string, windowMs = 1000): number | undefined {
    if (!this.up) return undefined
    return this.histories.get(`r\0${kind}\0${name}\0${direction}`)?.track.rate(windowMs, this.slackMs)
  }

  /** Rates by kind, name, direction and window, for the JSON API; empty while the target is down. */
  ratesJson(): Record<string, Record<string, Record<string, Rates>>> {
    const out: Record<string, Record<string, Record<string, Rates>>> = {}
    if (!this.up) return out
    for (const h of this.histories.values()) {
      if (!h.rate) continue
      const windows: Rates = {}
      for (const w of RATE_WINDOWS) {
        const r = h.track.rate(w.seconds * 1000, this.slackMs)
        if (r !== undefined) windows[w.label] = r
      }
      ;((out[h.rate.kind] ??= {})[h.rate.name] ??= {})[h.rate.direction] = windows
    }
    return out
  }

  /**
   * Rates of the top mailboxes between this poll and the previous one. A mailbox is known by group and
   * name, which need not be unique: a name listed twice in one poll gets no rate rather than one made
   * of two mailboxes' counters; so does a mailbox whose counters went back (closed and reopened).
   */
  recordTop(s: Snapshot): void {
    const rows = s.mailboxes?.top ?? []
    const count = new Map<string, number>()
    for (const m of rows) {
      const key = `${m.group}\0${m.name}`
      count.set(key, (count.get(key) ?? 0) + 1)
    }
    const next = new Map<string, TopSample>()
    this.topRates = rows.map((m) => {
      const key = `${m.group}\0${m.name}`
      if (count.get(key)! > 1) return { enqueued: null, dequeued: null }
      const before = this.top.get(key)
      next.set(key, { time: s.time, enqueued: m.enqueued, dequeued: m.dequeued })
      const dt = before ? (s.time - before.time) / 1000 : 0
      if (!before || dt <= 0 || m.enqueued < before.enqueued || m.dequeued < before.dequeued)
        return { enqueued: null, dequeued: null }
      return { enqueued: (m.enqueued - before.enqueued) / dt, dequeued: (m.dequeued - before.dequeued) / dt }
    })
    // Only this poll's mailboxes are kept: bounded by the top list.
    this.top = next
  }
}

export interface StoreOptions {
  readonly intervalMs: number
  readonly ttlMs: number
  readonly maxSeries: number
  /** Trailing window of the `_peak` gauges, in ms. */
  readonly peakWindowMs: number
  /** Receives one line per collision, once per target and kind. Default: none. */
  readonly log?: (line: string) => void
}

export class Store {
  readonly targets = new Map<string, TargetState>()
  /** The status page's five minutes of totals. */
  readonly timeline: Timeline
  /** Series served now, over every target. */
  seriesCount = 0
  /** Rate and peak histories held, over every target: at most `maxSeries`. */
  historyCount = 0
  seriesDropped = 0
  seriesExpired = 0
  pollsOk = 0
  pollsFailed = 0
  readonly pollErrors = Object.fromEntries(POLL_ERRORS.map((e) => [e, 0])) as Record<PollError, number>
  readonly collisions = { instance: 0, series: 0 }
  lastCycleSeconds = 0
  ready = false
  private readonly rateCapacity: number
  private readonly peakCapacity: number
  private readonly slackMs: number
  private readonly options: StoreOptions
  /** Targets by the identity they report, to find two that report the same. */
  private readonly identities = new Map<string, Set<TargetState>>()
  private readonly warned = new Set<string>()
  private view: Map<MetricDef, ServedSeries[]> | undefined

  constructor(options: StoreOptions) {
    this.options = options
    this.rateCapacity = Track.capacityFor(RATE_WINDOWS.at(-1)!.seconds * 1000, options.intervalMs)
    this.peakCapacity = Track.capacityFor(options.peakWindowMs, options.intervalMs)
    this.slackMs = options.intervalMs / 2
    this.timeline = new Timeline(options.intervalMs)
  }

  /** Starts tracking a target (not polled yet: down, serving nothing). */
  add(target: Target): TargetState {
    const state = new TargetState(target, this.slackMs)
    this.targets.set(target.url, state)
    return state
  }

  /** Forgets a target and everything it served. */
  remove(url: string): void {
    const state = this.targets.get(url)
    if (!state) return
    this.targets.delete(url)
    this.seriesCount -= state.series.length
    this.historyCount -= state.histories.size
    this.leaveIdentity(state)
    for (const kind of ['instance', 'series']) this.warned.delete(`${kind}\0${url}`)
  }

  /** Makes room under `maxSeries`: forgets the target's histories its poll at `now` did not report. */
  private forgetStale(state: TargetState, now: number): void {
    for (const [key, h] of state.histories) {
      if (h.seenAt >= now) continue
      state.histories.delete(key)
      this.historyCount--
      this.seriesExpired++
    }
  }

  /** `instance` as served: the snapshot's, or `instance@target` while another target reports the same. */
  servedInstance(state: TargetState): string {
    const instance = state.snapshot?.instance ?? ''
    return (this.identities.get(state.identity)?.size ?? 0) > 1 ? `${instance}@${state.target.url}` : instance
  }

  private warnOnce(key: string, line: string): void {
    if (this.warned.has(key)) return
    this.warned.add(key)
    this.options.log?.(line)
  }

  private leaveIdentity(state: TargetState): void {
    const set = this.identities.get(state.identity)
    set?.delete(state)
    if (set?.size === 0) this.identities.delete(state.identity)
  }

  private joinIdentity(state: TargetState, s: Snapshot): void {
    const identity = `${s.service}\0${s.instance}`
    if (identity === state.identity) return
    this.leaveIdentity(state)
    state.identity = identity
    let set = this.identities.get(identity)
    if (!set) this.identities.set(identity, (set = new Set()))
    set.add(state)
    if (set.size > 1) {
      this.collisions.instance++
      const others = [...set].filter((t) => t !== state).map((t) => t.target.url)
      this.warnOnce(
        `instance\0${state.target.url}`,
        `${state.target.url} reports service ${JSON.stringify(s.service)} instance ${JSON.stringify(s.instance)} like ${others.join(', ')}: served as instance@target (give each process its own instance)`,
      )
    }
  }

  /** Takes in one poll's result; `now` is the sidecar's clock. */
  record(state: TargetState, result: PollResult, durationMs: number, now: number): void {
    state.lastPollTime = now
    state.pollDurationSeconds = durationMs / 1000
    if (!result.ok) {
      state.up = false
      state.reason = result.reason
      this.pollsFailed++
      this.pollErrors[result.error]++
      this.seriesCount -= state.series.length
      state.series = []
      state.topRates = []
      return
    }
    this.pollsOk++
    const s = result.snapshot
    state.up = true
    state.reason = null
    state.lastSuccessTime = now
    state.snapshot = s
    const held = state.histories.size
    if (!state.sameProcess(s)) this.historyCount -= held
    this.joinIdentity(state, s)

    const series: Series[] = []
    const budget = this.options.maxSeries - (this.seriesCount - state.series.length)
    const serve = (def: MetricDef, labels: readonly string[], value: number): boolean => {
      if (series.length >= budget) {
        this.seriesDropped++
        return false
      }
      series.push({ def, labels, value })
      return true
    }
    const history = (key: string, capacity: number, counter: boolean, rate?: History['rate']) => {
      let h = state.histories.get(key)
      if (!h) {
        if (this.historyCount >= this.options.maxSeries) this.forgetStale(state, now)
        if (this.historyCount >= this.options.maxSeries) return undefined
        h = { track: new Track(capacity, counter), seenAt: now, ...(rate ? { rate } : {}) }
        state.histories.set(key, h)
        this.historyCount++
      }
      h.seenAt = now
      return h.track
    }
    forEachSample(
      s,
      (def, labels, value) => {
        if (!serve(def, labels, value)) return
        const peak = PEAK_METRICS.get(def)
        if (!peak || series.length >= budget) return
        const track = history(`p\0${def.name}\0${labels.join('\0')}`, this.peakCapacity, false)
        if (track) serve(peak, labels, track.add(s.time, value).max(this.options.peakWindowMs)!)
      },
      (def, labels) => {
        this.collisions.series++
        this.warnOnce(
          `series\0${state.target.url}`,
          `${state.target.url} reports ${def.name}{${labels.join(',')}} twice; serving the first (give each semaphore its own name)`,
        )
      },
    )

    const rated = (kind: RateKind, name: string, direction: string, raw: number) =>
      history(`r\0${kind}\0${name}\0${direction}`, this.rateCapacity, true, { kind, name, direction })?.add(
        s.time,
        raw,
      )
    const serveRates = (def: MetricDef, labels: readonly string[], track: Track | undefined) => {
      if (!track) return
      for (const w of RATE_WINDOWS) {
        const r = track.rate(w.seconds * 1000, this.slackMs)
        if (r !== undefined) serve(def, [...labels, w.label], r)
      }
    }
    const mb = s.mailboxes
    if (mb) {
      for (const [group, g] of Object.entries(mb.groups)) {
        const rate = SIDECAR_METRICS.mailboxRate
        serveRates(rate, [group, 'enqueued'], rated('mailbox', group, 'enqueued', g.enqueued))
        serveRates(rate, [group, 'dequeued'], rated('mailbox', group, 'dequeued', g.dequeued))
        serveRates(rate, [group, 'dropped'], rated('mailbox', group, 'dropped', dropped(g.dropped)))
      }
      rated('total', 'all', 'enqueued', mb.totals.enqueued)
      rated('total', 'all', 'dequeued', mb.totals.dequeued)
      rated('total', 'all', 'dropped', dropped(mb.totals.dropped))
    }
    if (s.pressure) {
      let shed = 0
      for (const e of s.pressure.shed) shed += e.count
      rated('total', 'all', 'shed', shed)
    }
    /** Rates of rows known by name (semaphores, channels), one counter of the row by direction. */
    const rateRows = <R extends { readonly name: string }>(
      rows: readonly R[],
      kind: RateKind,
      def: MetricDef,
      counters: Readonly<Record<string, (row: R) => number>>,
    ) => {
      const names = new Set<string>()
      for (const row of rows) {
        // A repeated name was counted as a collision above; its first entry is the one served.
        if (names.has(row.name)) continue
        names.add(row.name)
        for (const [direction, count] of Object.entries(counters))
          serveRates(def, [row.name, direction], rated(kind, row.name, direction, count(row)))
      }
    }
    rateRows(s.semaphores, 'semaphore', SIDECAR_METRICS.semaphoreRate, {
      acquired: (sem) => sem.acquired,
      rejected: (sem) => sem.rejected,
    })
    // Absent from the snapshots of exporters older than channels.
    rateRows(s.channels ?? [], 'channel', SIDECAR_METRICS.channelRate, {
      sent: (ch) => ch.framesSent,
      received: (ch) => ch.framesReceived,
      refused: (ch) => ch.framesRefused,
    })
    let gcSeconds = 0
    for (const gc of Object.values(s.runtime.gc)) gcSeconds += gc.seconds
    serveRates(SIDECAR_METRICS.gcTimeRatio, [], rated('gc', 'all', 'seconds', gcSeconds))

    this.seriesCount += series.length - state.series.length
    state.series = series
    state.recordTop(s)
  }

  /**
   * Once per poll cycle: forgets the histories no poll reported for the TTL (a group that went away, a
   * target down that long; counted as expired), then adds the cycle's point to the timeline.
   */
  endCycle(now: number): void {
    const before = now - this.options.ttlMs
    for (const state of this.targets.values()) {
      for (const [key, h] of state.histories) {
        if (h.seenAt < before) {
          state.histories.delete(key)
          this.historyCount--
          this.seriesExpired++
        }
      }
    }
    this.timeline.record(this.targets.values(), now)
  }

  /**
   * The served series of every target that is up, by metric, with the target's `service` and served
   * `instance`: built once per scrape (every metric of a scrape asks in the same turn of the event
   * loop) and dropped at the next turn.
   */
  grouped(): Map<MetricDef, ServedSeries[]> {
    if (!this.view) {
      const view = new Map<MetricDef, ServedSeries[]>()
      for (const state of this.targets.values()) {
        if (state.series.length === 0) continue
        const target = [state.snapshot!.service, this.servedInstance(state)] as const
        for (const series of state.series) {
          let list = view.get(series.def)
          if (!list) view.set(series.def, (list = []))
          list.push({ target, series })
        }
      }
      this.view = view
      setImmediate(() => (this.view = undefined))
    }
    return this.view
  }
}
