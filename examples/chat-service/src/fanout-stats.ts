/*
 * Room members and the fan-out counters the main thread reads from every room worker.
 *
 * Memory layout: one SharedArrayBuffer of `workers × COUNTERS.length` BigInt64 slots, a row per
 * worker: worker w's counter c is at byte offset (w × COUNTERS.length + c) × 8.
 *
 * Writers: worker w alone writes row w, with Atomics.add; the main thread only reads, with
 * Atomics.load, and sums the rows. Invariants: every slot only grows (a `_total`, never reset), and
 * a read never sees half a slot — hence Atomics on 64-bit slots (a plain 64-bit access may tear,
 * a 32-bit one would wrap after 2^31 deliveries). No cross-slot consistency is promised: a read while
 * messages are in flight may see a broadcast whose deliveries are not counted yet.
 */
import type { RecordableHistogram } from 'node:perf_hooks'

/** The slots of a row, in order. */
export const COUNTERS = [
  /** Messages stored by this worker (the rooms it owns). */
  'stored',
  /** manifold.send() calls for stored messages (one per stored message when rooms have members). */
  'broadcasts',
  /** Recipients of those sends (members per room, summed). */
  'recipients',
  /** Broadcasts whose send() rejected (a channel closed). */
  'broadcastFailures',
  /** Manifold frames this worker received carrying deliveries: one per broadcast per owning worker. */
  'frames',
  /** Messages delivered to this worker's sessions. */
  'deliveries',
  /** Deliveries out of sequence at their session (a duplicate, a gap or a reordering). */
  'outOfOrder',
  /** Sessions this worker holds (created at their first delivery). */
  'sessions',
] as const
export type Counter = (typeof COUNTERS)[number]
const SLOT = Object.fromEntries(COUNTERS.map((name, i) => [name, i])) as Record<Counter, number>

export function createCounters(workers: number): BigInt64Array {
  return new BigInt64Array(new SharedArrayBuffer(workers * COUNTERS.length * 8))
}

/** Adds `n` to worker `workerIndex`'s counter: only that worker calls this for its row. */
export function count(counters: BigInt64Array, workerIndex: number, counter: Counter, n = 1): void {
  Atomics.add(counters, workerIndex * COUNTERS.length + SLOT[counter], BigInt(n))
}

/** The members of a room: `<room>#0` … `<room>#<n − 1>` (room names never contain '#'). */
export function memberIds(room: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${room}#${i}`)
}

/** What `GET /fanout` answers: the counters summed over every worker, and the latency histogram. */
export type FanoutStats = Record<Counter, number> & {
  readonly workers: number
  readonly membersPerRoom: number
  /** Store → delivery to a worker's sessions, ms; null before the first delivery. */
  readonly latencyMs: { count: number; p50: number | null; p99: number | null; max: number | null }
}

export function readFanoutStats(
  counters: BigInt64Array,
  latency: RecordableHistogram,
  membersPerRoom: number,
): FanoutStats {
  const workers = counters.length / COUNTERS.length
  const totals = Object.fromEntries(
    COUNTERS.map((name) => {
      let total = 0n
      for (let w = 0; w < workers; w++) total += Atomics.load(counters, w * COUNTERS.length + SLOT[name])
      return [name, Number(total)]
    }),
  ) as Record<Counter, number>
  const ms = (us: number) => (latency.count === 0 ? null : us / 1000)
  return {
    ...totals,
    workers,
    membersPerRoom,
    latencyMs: {
      count: latency.count,
      p50: ms(latency.percentile(50)),
      p99: ms(latency.percentile(99)),
      max: ms(latency.max),
    },
  }
}

/** Milliseconds since the epoch with sub-millisecond precision, comparable between threads. */
export const epochMs = (): number => performance.timeOrigin + performance.now()
