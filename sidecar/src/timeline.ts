import type { TargetState } from './store.js'
import { Track } from './track.js'

/** The columns of the timeline, in the order `/api/v1/history` serves them. */
export const TIMELINE_COLUMNS = [
  /** When the poll cycle ended, ms since the epoch (the sidecar's clock). */
  'time',
  /** Targets whose last poll succeeded / failed. */
  'up',
  'down',
  /** Messages queued, summed over the targets that are up. */
  'queued',
  /** The longest mailbox of any target. */
  'longest',
  /** 1 s rates, summed over the targets that are up, in messages (requests for `shed`) per second; null when unknown. */
  'enqueued',
  'dequeued',
  'dropped',
  'shed',
  /** Highest pressure level of any target that is up: 0 ok, 1 throttle, 2 shed. */
  'level',
  /** Targets at pressure level 2. */
  'shedding',
] as const

export type TimelineColumn = (typeof TIMELINE_COLUMNS)[number]

const RATES = ['enqueued', 'dequeued', 'dropped', 'shed'] as const

/** How far back the status page's charts reach. */
export const TIMELINE_WINDOW_MS = 5 * 60_000

/**
 * What the status page charts: one point of totals per poll cycle over the last five minutes, one
 * `Track` per column (300 points × 11 columns ≈ 53 KB at the default 1 s interval), so memory is fixed
 * however long the sidecar runs and however many targets come and go. Totals rather than per-target
 * series: the points of one cycle share one time, which uPlot needs, and the page shows per-target
 * detail in its tables. A rate is the sum of the rates known; none known (fewer than two polls of
 * every target that is up) is NaN, served as null: a gap in the chart rather than a false 0.
 */
export class Timeline {
  readonly capacity: number
  private readonly columns: Record<TimelineColumn, Track>

  /** `intervalMs`: the poll interval; the tracks hold `TIMELINE_WINDOW_MS` of it (10 to 3000 points). */
  constructor(readonly intervalMs: number) {
    this.capacity = Math.min(3000, Math.max(10, Math.ceil(TIMELINE_WINDOW_MS / intervalMs)))
    this.columns = Object.fromEntries(
      TIMELINE_COLUMNS.map((c) => [c, new Track(this.capacity, false)]),
    ) as Record<TimelineColumn, Track>
  }

  /** Adds the point of one finished poll cycle. */
  record(targets: Iterable<TargetState>, now: number): void {
    const point: Record<TimelineColumn, number> = {
      time: now,
      up: 0,
      down: 0,
      queued: 0,
      longest: 0,
      enqueued: Number.NaN,
      dequeued: Number.NaN,
      dropped: Number.NaN,
      shed: Number.NaN,
      level: 0,
      shedding: 0,
    }
    for (const t of targets) {
      if (!t.up || !t.snapshot) {
        point.down++
        continue
      }
      point.up++
      const mb = t.snapshot.mailboxes
      if (mb) {
        point.queued += mb.totals.queued
        point.longest = Math.max(point.longest, mb.totals.longest)
      }
      for (const d of RATES) {
        const r = t.rate('total', 'all', d)
        if (r !== undefined) point[d] = (Number.isNaN(point[d]) ? 0 : point[d]) + r
      }
      const level = t.snapshot.pressure?.level ?? 0
      point.level = Math.max(point.level, level)
      if (level >= 2) point.shedding++
    }
    for (const c of TIMELINE_COLUMNS) this.columns[c].add(now, point[c])
  }

  /** Points held, oldest first, one array per column (the shape uPlot draws). */
  toJSON(): { intervalMs: number; windowMs: number } & Record<TimelineColumn, (number | null)[]> {
    const out = { intervalMs: this.intervalMs, windowMs: TIMELINE_WINDOW_MS } as {
      intervalMs: number
      windowMs: number
    } & Record<TimelineColumn, (number | null)[]>
    for (const c of TIMELINE_COLUMNS) out[c] = this.columns[c].column()
    return out
  }
}
