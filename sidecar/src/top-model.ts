/**
 * The top-mailboxes view shared by the status page (served as `/top-model.js` and run in the browser)
 * and `beamline-sidecar top`: reading `/api/v1/snapshot` (rates included: the sidecar computes them),
 * sort orders and number formats. It imports types only, erased at compile time, so that the browser can load it as is.
 */
import type { Snapshot } from '@beamline/exporter'
import type { TopRate } from './store.js'
import type { Timeline } from './timeline.js'

/** The parts of `/api/v1/snapshot` the views read (see docs/snapshot-schema.md). */
export interface ApiSnapshot {
  readonly time: number
  readonly intervalMs: number
  readonly targets: readonly ApiTarget[]
}

/** `/api/v1/history`: one array per `TIMELINE_COLUMNS` entry, oldest point first. */
export type ApiHistory = ReturnType<Timeline['toJSON']>

export interface ApiTarget {
  readonly target: string
  readonly up: boolean
  readonly reason: string | null
  readonly service: string | null
  readonly instance: string | null
  readonly lastSuccessTime: number | null
  readonly pollDurationSeconds: number
  readonly snapshot: TargetSnapshot | null
  /** kind → name → direction → window → per-second rate. */
  readonly rates: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, RateWindows>>>>>>
  /** Per-second rates of `snapshot.mailboxes.top`, in its order; null when unknown. */
  readonly topRates?: readonly TopRate[]
}

export type RateWindows = Readonly<Partial<Record<'1s' | '10s' | '100s', number>>>

/** A mailbox of the snapshot's top-N list. */
export type TopMailbox = NonNullable<Snapshot['mailboxes']>['top'][number]

/** What a target last answered: the exporter's snapshot document, as the sidecar relays it. */
export type TargetSnapshot = Pick<
  Snapshot,
  'service' | 'instance' | 'time' | 'mailboxes' | 'semaphores' | 'pressure' | 'channels'
>

/** One line of the top table: a mailbox of one target, with its rates since the previous poll. */
export interface MailboxRow {
  readonly target: string
  readonly instance: string
  readonly name: string
  readonly group: string
  readonly length: number
  readonly peak: number
  /** null for an observed queue, whose messages have no known age. */
  readonly oldestAgeMs: number | null
  /** Messages dropped (for any reason) and rejected since the mailbox was created. */
  readonly lost: number
  /**
   * Per second between the sidecar's last two polls; undefined for a mailbox that was not in the
   * previous top, whose counters went back, or whose name the target lists twice.
   */
  readonly inRate: number | undefined
  readonly outRate: number | undefined
}

/** One @beamline/fanout channel of a target, with the sidecar's 1 s rates of its frames. */
export interface ChannelView {
  readonly target: string
  readonly instance: string
  readonly name: string
  readonly usedBytes: number
  readonly capacityBytes: number
  /** usedBytes / capacityBytes, 0 to 1. */
  readonly fill: number
  readonly queuedFrames: number
  /** Frames per second written, taken out by the consumer, refused as full; undefined when unknown. */
  readonly sentRate: number | undefined
  readonly receivedRate: number | undefined
  readonly refusedRate: number | undefined
  /** trySend() calls refused as full since the channel was created. */
  readonly refused: number
  readonly waitingSenders: number
}

/** A channel is drawn as full from this fill on: the next frames are about to be refused. */
export const CHANNEL_FULL = 0.9

/** The channels of every target that is up, in the order the targets report them. */
export function channelRows(api: ApiSnapshot): ChannelView[] {
  const rows: ChannelView[] = []
  for (const t of api.targets) {
    const s = t.snapshot
    if (!t.up || !s) continue
    // Absent from the snapshots of exporters older than channels.
    for (const ch of s.channels ?? []) {
      rows.push({
        target: t.target,
        instance: s.instance,
        name: ch.name,
        usedBytes: ch.usedBytes,
        capacityBytes: ch.capacityBytes,
        fill: ch.capacityBytes > 0 ? Math.min(1, ch.usedBytes / ch.capacityBytes) : 0,
        queuedFrames: ch.queuedFrames,
        sentRate: rate1s(t, 'channel', ch.name, 'sent'),
        receivedRate: rate1s(t, 'channel', ch.name, 'received'),
        refusedRate: rate1s(t, 'channel', ch.name, 'refused'),
        refused: ch.framesRefused,
        waitingSenders: ch.waitingSenders,
      })
    }
  }
  return rows
}

export const SORT_KEYS = ['length', 'peak', 'age', 'rate'] as const
export type SortKey = (typeof SORT_KEYS)[number]

/** Keys of `top` that select each order (also underlined in the page's column headers). */
export const SORT_BY_KEY: Readonly<Record<string, SortKey>> = { l: 'length', p: 'peak', a: 'age', r: 'rate' }

const LEVELS = ['ok', 'throttle', 'shed'] as const

/** `ok`, `throttle` or `shed` for a pressure level. */
export function levelName(level: number): string {
  return LEVELS[level] ?? `level ${level}`
}

/**
 * One row per mailbox of every target that is up, from `/api/v1/snapshot`: the rates are the
 * sidecar's (`topRates`, from its poll history, between its last two polls of the target), so the page
 * and `top` show the same numbers however often they ask.
 */
export function mailboxRows(api: ApiSnapshot): MailboxRow[] {
  const rows: MailboxRow[] = []
  for (const t of api.targets) {
    const s = t.snapshot
    if (!t.up || !s?.mailboxes) continue
    s.mailboxes.top.forEach((m, i) => {
      const rates = t.topRates?.[i]
      let lost = m.rejected
      for (const n of Object.values(m.dropped) as number[]) lost += n
      rows.push({
        target: t.target,
        instance: s.instance,
        name: m.name,
        group: m.group,
        length: m.length,
        peak: m.peak,
        oldestAgeMs: m.oldestAgeMs,
        lost,
        // An observed queue (age unknown) counts nothing in or out: its rates are unknown too.
        inRate: m.oldestAgeMs === null ? undefined : (rates?.enqueued ?? undefined),
        outRate: m.oldestAgeMs === null ? undefined : (rates?.dequeued ?? undefined),
      })
    })
  }
  return rows
}

const SORT_VALUE: Readonly<Record<SortKey, (r: MailboxRow) => number>> = {
  length: (r) => r.length,
  peak: (r) => r.peak,
  age: (r) => r.oldestAgeMs ?? -1,
  rate: (r) => r.inRate ?? -1,
}

/** Longest (or highest peak, oldest, busiest) first; ties by length, then name, so rows do not jump. */
export function sortRows(rows: readonly MailboxRow[], key: SortKey): MailboxRow[] {
  const value = SORT_VALUE[key]
  return [...rows].sort(
    (a, b) => value(b) - value(a) || b.length - a.length || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  )
}

/** `1 234`, `12.3 k`, `4.5 M`: at most 6 characters. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '–'
  const a = Math.abs(n)
  if (a < 10_000) return a < 10 && !Number.isInteger(n) ? n.toFixed(1) : Math.round(n).toLocaleString('en-US')
  if (a < 1e6) return `${(n / 1e3).toFixed(a < 1e5 ? 1 : 0)} k`
  if (a < 1e9) return `${(n / 1e6).toFixed(a < 1e8 ? 1 : 0)} M`
  return `${(n / 1e9).toFixed(1)} G`
}

/** `512 B`, `3.5 KiB`, `4 MiB`, `1.2 GiB`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '–'
  if (Math.abs(n) < 1024) return `${Math.round(n)} B`
  let value = n / 1024
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < 2) {
    value /= 1024
    unit++
  }
  const digits = Number.isInteger(value) || Math.abs(value) >= 100 ? 0 : 1
  return `${value.toFixed(digits)} ${['KiB', 'MiB', 'GiB'][unit]}`
}

/**
 * A chart's axis tick with as many decimals as the step between ticks needs, so that no two ticks
 * print alike: steps of 0.25 give `0.25`, `0.5`, `0.75` (not `0.3`, `0.8`); from 10 000 in k, M, G.
 */
export function formatTick(value: number, step: number): string {
  const a = Math.abs(value)
  const [unit, suffix] = a >= 1e9 ? [1e9, ' G'] : a >= 1e6 ? [1e6, ' M'] : a >= 1e4 ? [1e3, ' k'] : [1, '']
  const scaled = step / unit
  let decimals = 0
  while (decimals < 6 && Math.abs(Math.round(scaled * 10 ** decimals) - scaled * 10 ** decimals) > 1e-6)
    decimals++
  return `${(value / unit).toLocaleString('en-US', { maximumFractionDigits: decimals })}${suffix}`
}

/** A rate per second, or `–` when unknown. */
export function formatRate(n: number | undefined): string {
  return n === undefined ? '–' : formatCount(n)
}

/** `0 ms`, `850 ms`, `12.5 s`, `3 min`, `2.1 h`; `–` when unknown (null: an observed queue). */
export function formatAge(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '–'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`
  return `${(ms / 3_600_000).toFixed(1)} h`
}

/** The 1 s rate of one counter of a target (`kind`, `name`, `direction` as in `rates`), if known. */
export function rate1s(t: ApiTarget, kind: string, name: string, direction: string): number | undefined {
  return t.rates[kind]?.[name]?.[direction]?.['1s']
}

/** One line for a target: what is pushing its pressure up, e.g. `queuedMessages 6 012 ≥ 5 000`. */
export function pressureReasons(t: ApiTarget): string {
  const reasons = t.snapshot?.pressure?.reasons ?? []
  return reasons
    .map(
      (r) => `${r.signal} ${formatCount(r.value)} ≥ ${formatCount(r.value >= r.shed ? r.shed : r.throttle)}`,
    )
    .join(', ')
}
