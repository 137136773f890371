import { forEachSample, type MetricDef, type Snapshot } from '@beamline/exporter'
import { LRUCache } from 'lru-cache'
import { PEAK_METRICS, RATE_WINDOWS, SIDECAR_METRICS } from './metric-names.js'
import type { PollResult } from './poller.js'
import { CounterRate } from './rates.js'
import type { Target } from './target.js'

/** One served series of a target: label values in `servedLabels(def)` order. */
export interface Series {
  readonly def: MetricDef
  readonly labels: readonly string[]
  value: number
  /** Highest value since the last scrape of /metrics (peaked gauges only). */
  peak: number
}

/** Rate windows of one counter, as served under `/api/v1/snapshot`. */
export type Rates = Record<(typeof RATE_WINDOWS)[number]['label'], number>

interface RateEntry {
  readonly kind: 'mailbox' | 'semaphore' | 'gc' | 'total'
  readonly name: string
  readonly direction: string
  readonly counter: CounterRate
  /** Snapshot time of the last poll that reported this counter. */
  seenAt: number
}

/** A short history of the 1 s rates of all mailboxes together, for status pages. */
export interface HistoryPoint {
  readonly time: number
  readonly enqueued: number
  readonly dequeued: number
  readonly dropped: number
}

const HISTORY = 120

/** What the sidecar knows about one target. */
export class TargetState {
  up = false
  reason: string | null = 'not polled yet'
  lastPollTime: number | null = null
  lastSuccessTime: number | null = null
  pollDurationSeconds = 0
  snapshot: Snapshot | null = null
  private identity = ''
  readonly rates = new Map<string, RateEntry>()
  readonly history: HistoryPoint[] = []

  constructor(readonly target: Target) {}

  /** Forgets rate state when the target is now another process (restart, or a reused socket path). */
  checkIdentity(s: Snapshot): void {
    const id = `${s.service}\0${s.instance}\0${s.startTime}`
    if (id === this.identity) return
    this.identity = id
    this.rates.clear()
    this.history.length = 0
  }

  rateFor(
    kind: RateEntry['kind'],
    name: string,
    direction: string,
    capacity: number,
    slackMs: number,
    now: number,
  ): CounterRate {
    const key = `${kind}\0${name}\0${direction}`
    let entry = this.rates.get(key)
    if (!entry) {
      entry = { kind, name, direction, counter: new CounterRate(capacity, slackMs), seenAt: now }
      this.rates.set(key, entry)
    }
    entry.seenAt = now
    return entry.counter
  }

  /**
   * Forgets counters no poll has reported since `before` (a group or semaphore that went away), as
   * the served series expire after the TTL: a target that keeps inventing names cannot grow this.
   */
  expireRates(before: number): void {
    for (const [key, e] of this.rates) if (e.seenAt < before) this.rates.delete(key)
  }

  /** Per-second rate of one counter over `windowMs` (default 1 s); undefined before two polls. */
  rate(kind: RateEntry['kind'], name: string, direction: string, windowMs = 1000): number | undefined {
    return this.rates.get(`${kind}\0${name}\0${direction}`)?.counter.rate(windowMs)
  }

  /** Rates by kind, name and direction, for the JSON API. */
  ratesJson(): Record<string, Record<string, Record<string, Partial<Rates>>>> {
    const out: Record<string, Record<string, Record<string, Partial<Rates>>>> = {}
    for (const e of this.rates.values()) {
      const windows: Partial<Rates> = {}
      for (const w of RATE_WINDOWS) {
        const r = e.counter.rate(w.seconds * 1000)
        if (r !== undefined) windows[w.label] = r
      }
      ;((out[e.kind] ??= {})[e.name] ??= {})[e.direction] = windows
    }
    return out
  }
}

export interface StoreOptions {
  readonly intervalMs: number
  readonly ttlMs: number
  readonly maxSeries: number
}

/**
 * Every series the sidecar serves, keyed by metric and label values, in one LRU bounded by
 * `maxSeries` and expiring after `ttlMs` without an update: a vanished instance's series go away
 * after the TTL, and a target that invents labels without end cannot exhaust memory. Evictions and
 * expiries are counted (`beamline_sidecar_series_dropped_total`, `…_expired_total`).
 */
export class Store {
  readonly targets = new Map<string, TargetState>()
  readonly series: LRUCache<string, Series>
  seriesDropped = 0
  seriesExpired = 0
  pollsOk = 0
  pollsFailed = 0
  lastCycleSeconds = 0
  ready = false
  private readonly capacity: number
  private readonly ttlMs: number
  private readonly slackMs: number
  private view: Map<MetricDef, Series[]> | undefined

  constructor(options: StoreOptions) {
    this.capacity = CounterRate.capacityFor(RATE_WINDOWS.at(-1)!.seconds * 1000, options.intervalMs)
    this.slackMs = options.intervalMs / 2
    this.ttlMs = options.ttlMs
    this.series = new LRUCache<string, Series>({
      max: options.maxSeries,
      ttl: options.ttlMs,
      // Staleness is checked once per poll cycle (purgeStale), not on every access.
      ttlResolution: Math.min(1000, options.intervalMs),
      updateAgeOnGet: false,
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.seriesDropped++
        else if (reason === 'expire') this.seriesExpired++
      },
    })
  }

  private upsert(def: MetricDef, labels: readonly string[], value: number): void {
    const key = `${def.name}\0${labels.join('\0')}`
    const existing = this.series.get(key, { allowStale: true })
    if (existing) {
      existing.value = value
      if (value > existing.peak) existing.peak = value
      this.series.set(key, existing)
    } else {
      this.series.set(key, { def, labels, value, peak: value })
    }
  }

  /** Takes in one poll's result. */
  record(state: TargetState, result: PollResult, durationMs: number, now: number): void {
    state.lastPollTime = now
    state.pollDurationSeconds = durationMs / 1000
    if (!result.ok) {
      state.up = false
      state.reason = result.reason
      this.pollsFailed++
      return
    }
    this.pollsOk++
    const s = result.snapshot
    state.up = true
    state.reason = null
    state.lastSuccessTime = now
    state.snapshot = s
    state.checkIdentity(s)
    const base = [s.service, s.instance]
    forEachSample(s, (def, labels, value) => this.upsert(def, [...base, ...labels], value))
    this.recordRates(state, s, base)
    state.expireRates(s.time - this.ttlMs)
  }

  private recordRates(state: TargetState, s: Snapshot, base: readonly string[]): void {
    const rate = (kind: RateEntry['kind'], name: string, direction: string, raw: number) => {
      const counter = state.rateFor(kind, name, direction, this.capacity, this.slackMs, s.time)
      counter.add(s.time, raw)
      return counter
    }
    const serve = (def: MetricDef, labels: readonly string[], counter: CounterRate, scale = 1) => {
      for (const w of RATE_WINDOWS) {
        const r = counter.rate(w.seconds * 1000)
        if (r !== undefined) this.upsert(def, [...base, ...labels, w.label], r * scale)
      }
    }
    const mb = s.mailboxes
    if (mb) {
      for (const [group, g] of Object.entries(mb.groups)) {
        serve(
          SIDECAR_METRICS.mailboxRate,
          [group, 'enqueued'],
          rate('mailbox', group, 'enqueued', g.enqueued),
        )
        serve(
          SIDECAR_METRICS.mailboxRate,
          [group, 'dequeued'],
          rate('mailbox', group, 'dequeued', g.dequeued),
        )
        serve(
          SIDECAR_METRICS.mailboxRate,
          [group, 'dropped'],
          rate('mailbox', group, 'dropped', droppedOf(g.dropped)),
        )
      }
      const t = mb.totals
      const enq = rate('total', 'all', 'enqueued', t.enqueued).rate(1000)
      const deq = rate('total', 'all', 'dequeued', t.dequeued).rate(1000)
      const drop = rate('total', 'all', 'dropped', droppedOf(t.dropped)).rate(1000)
      if (enq !== undefined && deq !== undefined && drop !== undefined) {
        state.history.push({ time: s.time, enqueued: enq, dequeued: deq, dropped: drop })
        if (state.history.length > HISTORY) state.history.shift()
      }
    }
    if (s.pressure) {
      let shed = 0
      for (const e of s.pressure.shed) shed += e.count
      rate('total', 'all', 'shed', shed)
    }
    for (const sem of s.semaphores) {
      serve(
        SIDECAR_METRICS.semaphoreRate,
        [sem.name, 'acquired'],
        rate('semaphore', sem.name, 'acquired', sem.acquired),
      )
      serve(
        SIDECAR_METRICS.semaphoreRate,
        [sem.name, 'rejected'],
        rate('semaphore', sem.name, 'rejected', sem.rejected),
      )
    }
    let gcSeconds = 0
    for (const gc of Object.values(s.runtime.gc)) gcSeconds += gc.seconds
    serve(SIDECAR_METRICS.gcTimeRatio, [], rate('gc', 'all', 'seconds', gcSeconds))
  }

  /** Drops series past their TTL; called once per poll cycle and before each scrape. */
  purge(): void {
    this.series.purgeStale()
  }

  /**
   * Series grouped by metric, built once per scrape (every metric of a scrape asks in the same turn of
   * the event loop) and dropped at the next turn.
   */
  grouped(): Map<MetricDef, Series[]> {
    if (!this.view) {
      this.purge()
      const view = new Map<MetricDef, Series[]>()
      for (const s of this.series.values()) {
        let list = view.get(s.def)
        if (!list) view.set(s.def, (list = []))
        list.push(s)
      }
      this.view = view
      setImmediate(() => (this.view = undefined))
    }
    return this.view
  }

  /** After a scrape of /metrics: the next peak starts from the current value. */
  resetPeaks(): void {
    for (const def of PEAK_METRICS.keys()) {
      for (const s of this.grouped().get(def) ?? []) s.peak = s.value
    }
  }
}

/** Every accepted message dropped, whatever the reason (abandoned: absent from older exporters). */
function droppedOf(d: { overflow: number; expired: number; abandoned?: number }): number {
  return d.overflow + d.expired + (d.abandoned ?? 0)
}
