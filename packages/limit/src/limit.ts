/*
 * An adaptive concurrency limit shared by every thread of a process. Memory layout, writers and the
 * reason for each Atomics or plain access: see ./layout.ts. In short: the tokens are the permits of
 * a @beamline/semaphore Semaphore (one CAS to grant, one add to release, its resize() to move the
 * limit, its reclaim for dead workers); this buffer adds the published limit and algorithm state,
 * the partitions, and per-thread slots where each thread counts its own samples and outcomes with
 * plain stores. The limit update reads every slot and runs in one thread at a time, from a 100 ms
 * timer: the hot path never computes anything.
 *
 * Waiting is per thread (promises cannot cross threads): each thread keeps its own queue, bounded
 * for all threads by a shared count, and parks at most one Semaphore.acquire() for a permit freed in
 * another thread; a permit freed in this thread is handed to this thread's waiters at once.
 */
import { EventEmitter } from 'node:events'
import { threadId } from 'node:worker_threads'
import {
  checkHandle,
  checkSharedBuffer,
  InvalidHandleError,
  InvalidOptionError,
  numberOption,
  onWorkerExit,
  type SharedHandle,
} from '@beamline/core'
import { Semaphore, type SemaphoreHandle, type WatchableWorker } from '@beamline/semaphore'
import { ALGORITHM_FUNCTIONS, type Bounds, baseline, updateBaseline, type Window } from './algorithms.js'
import {
  LimitExceededError,
  LimitQueueFullError,
  LimitThreadSlotsError,
  LimitTimeoutError,
  type LimitTimeoutReason,
} from './errors.js'
import {
  ABORTED,
  ACQUIRED,
  ALGO_STATE,
  ALGORITHM,
  ALGORITHMS,
  bufferBytes,
  CHANGES,
  COUNTERS,
  DROPPED,
  EPOCH,
  ESTIMATE,
  HANDLE_KIND,
  IGNORED,
  INTERVAL_MS,
  LAST,
  LAST_BUSY,
  LAST_DROPS,
  LAST_RTT_SUM,
  LAST_SAMPLES,
  LAST_SUCCEEDED,
  LAYOUT_VERSION,
  LIFO,
  LIMIT,
  MAX_LIMIT,
  MAX_PARTITIONS,
  MAX_WAIT_MS,
  MAX_WAITERS,
  MIN_LIMIT,
  MIN_RTT,
  NEXT_UPDATE_AT,
  P_GUARANTEED,
  P_INFLIGHT,
  P_SHARE,
  P_WAITING,
  P_WANT_AT,
  PARTITION_COUNT,
  partitionIndex,
  QUEUE_FULL,
  QUEUE_TIME_BOUNDS_MS,
  R_HIST,
  R_HIST_SUM_US,
  R_QUEUED,
  R_RTT_SUM_US,
  R_SAMPLES,
  RECLAIM_SEQ,
  RECLAIMED,
  RECLAIMING,
  REJECTED,
  retiredGlobalIndex,
  retiredPartitionIndex,
  S_HELD,
  S_HIST,
  S_HIST_SUM,
  S_OWNER,
  S_QUEUED,
  S_RTT_SUM,
  S_SAMPLES,
  S_WAITERS,
  SAMPLE_RTT,
  SLOT_COUNT,
  SLOTS_USED,
  SP_COUNTERS,
  SP_HELD,
  SP_WAITERS,
  SUCCEEDED,
  slotIndex,
  slotPartitionIndex,
  TARGET_MS,
  TIMED_OUT,
  UPDATE_LOCK,
  WAITING,
  WINDOW_START,
} from './layout.js'
import { type AdaptiveLimitOptions, type AlgorithmName, guaranteedShares, resolveOptions } from './options.js'

/** How often each thread looks at the window: the update runs in the first thread that finds it due. */
const TICK_MS = 100
/** A window closes after TICK_MS with at least this many outcomes, or after MAX_WINDOW_MS with any. */
const MIN_SAMPLES = 10
const MAX_WINDOW_MS = 1000
/** Tokens each thread times per tick at most (see Engine.stride): 640 a second. */
const SAMPLES_PER_TICK = 64
const MIN_TIMED_GAP_MS = TICK_MS / SAMPLES_PER_TICK / 4
const MAX_STRIDE = 2 ** 20
const MAX_TIMEOUT_MS = 2 ** 31 - 1
const OWNER_ID = threadId + 1
const HIST_BUCKETS = QUEUE_TIME_BOUNDS_MS.length
/** x86 never reorders a load with a later load (TSO); elsewhere a release store keeps earlier loads before the next Atomics.load. */
const LOADS_IN_ORDER = process.arch === 'x64' || process.arch === 'ia32'
const fence = new Int32Array(new SharedArrayBuffer(4))
/** The reason a parked acquire is withdrawn with: a constant, not a DOMException built each time. */
const DISARMED = Symbol('disarmed')

/** Plain data plus buffers: survives `structuredClone`, so send it through `workerData` or `postMessage`. */
export interface AdaptiveLimitHandle extends SharedHandle<typeof HANDLE_KIND> {
  readonly name: string
  readonly buffer: SharedArrayBuffer
  /** The semaphore whose permits are the tokens. */
  readonly semaphore: SemaphoreHandle
  /** Partition names, in index order. */
  readonly partitions: readonly string[]
}

export interface AcquireOptions {
  /** The partition to count in. Required when the limit has partitions; otherwise `'default'` or omitted. */
  partition?: string
  /** Abort the wait: the promise rejects with `signal.reason` (counted in `aborted`). */
  signal?: AbortSignal
  /**
   * Milliseconds this caller waits at most (`ERR_BEAMLINE_LIMIT_TIMEOUT`, reason `timeout`), within
   * `queue.maxWaitMs`; 0 fails at once at the limit. From 0 to 2 147 483 647. Default: only the
   * queue's own bounds.
   */
  timeoutMs?: number
}

export interface LimitChange {
  from: number
  to: number
}

export interface LimitPartitionStats {
  /** The configured share of the limit, in [0, 1]. */
  share: number
  /** Tokens guaranteed to this partition at the current limit. */
  guaranteed: number
  inFlight: number
  queued: number
  /** Tokens granted (at once or after waiting). */
  acquired: number
  /** Tokens ended with `success()`. */
  succeeded: number
  /** Tokens ended with `dropped()` (the limit backs off). */
  dropped: number
  /** Tokens ended with `ignore()`. */
  ignored: number
  /** Refused at once at the limit: `tryAcquire` returned undefined, or `ERR_BEAMLINE_LIMIT_EXCEEDED`. */
  rejected: number
  /** Refused at once because `queue.maxWaiters` were waiting (`ERR_BEAMLINE_LIMIT_QUEUE_FULL`). */
  queueFull: number
  /** Waited and were refused (`ERR_BEAMLINE_LIMIT_TIMEOUT`: CoDel, maxWaitMs or the caller's timeoutMs). */
  timedOut: number
  /** Waited and the caller's signal aborted. */
  aborted: number
}

export interface QueueTimeStats {
  /** Upper bounds of the buckets, milliseconds; the last is Infinity. */
  boundsMs: readonly number[]
  /** Cumulative: `counts[i]` admitted requests waited ≤ `boundsMs[i]` (Prometheus `le` buckets). */
  counts: number[]
  /** Total milliseconds waited by admitted requests. */
  sumMs: number
  /** Admitted requests; those admitted at once count with a wait of 0. Equals `acquired`. */
  count: number
}

/**
 * Summed over all threads and partitions. Every attempt ends in exactly one of acquired, rejected,
 * queueFull, timedOut, aborted; every acquired token in one of succeeded, dropped, ignored, or is
 * still in flight.
 */
export interface AdaptiveLimitStats extends Omit<LimitPartitionStats, 'share' | 'guaranteed'> {
  name: string
  algorithm: AlgorithmName
  limit: number
  minLimit: number
  maxLimit: number
  /** The algorithm's estimate of the RTT without queueing, ms; NaN before the first window with samples. */
  minRttMs: number
  /** The last window's mean RTT of successful tokens, ms; NaN before the first. */
  sampleRttMs: number
  /** Windows closed (limit updates run), and how many changed the limit. */
  windows: number
  limitChanges: number
  /** Tokens returned from threads that exited holding them. */
  reclaimed: number
  queueTime: QueueTimeStats
  byPartition: Record<string, LimitPartitionStats>
}

/** The proof of one admission. End it exactly once; later calls do nothing. */
export class Token {
  readonly #engine: Engine
  /** The partition's index, or -1 once ended. */
  #p: number
  /** Admission time on the engine's clock; NaN for a token that is not timed (see Engine.stride). */
  readonly #start: number

  constructor(engine: Engine, p: number, start: number) {
    this.#engine = engine
    this.#p = p
    this.#start = start
  }

  /** The partition it counts in. */
  get partition(): string {
    return this.#engine.partitionNames[Math.max(0, this.#p)]!
  }

  /** The work succeeded: an RTT sample from admission to now. */
  success(): void {
    this.#end(SUCCEEDED)
  }

  /** The work failed because of overload (a timeout, a 503 from downstream): the limit backs off. */
  dropped(): void {
    this.#end(DROPPED)
  }

  /** No sample (a client error, a cancelled request): the token is returned and nothing is learned. */
  ignore(): void {
    this.#end(IGNORED)
  }

  #end(outcome: number): void {
    const p = this.#p
    if (p < 0) return
    this.#p = -1
    this.#engine.release(p, this.#start, outcome)
  }
}

interface Waiter {
  readonly p: number
  /** Enqueue time, this instance's clock. */
  readonly at: number
  readonly deadline: number
  readonly reason: LimitTimeoutReason
  readonly resolve: (token: Token) => void
  readonly reject: (reason: unknown) => void
  readonly signal: AbortSignal | undefined
  timer: NodeJS.Timeout | undefined
  onAbort: (() => void) | undefined
  queued: boolean
  prev: Waiter | undefined
  next: Waiter | undefined
}

class Lane {
  head: Waiter | undefined
  tail: Waiter | undefined
  length = 0
}

/** Sums over the retired totals and every live slot. */
interface Totals {
  counters: Float64Array
  samples: number
  rttSum: number
  queued: number
  histSum: number
  hist: Float64Array
  held: number
}

/** A Worker that has exited already, as Semaphore.watch() takes it: its 'exit' has happened. */
function exitedWorker(threadId: number): WatchableWorker {
  return { threadId, once: (_event, listener) => listener(0) }
}

/**
 * Claims this thread's slot: the one it owns already (a second attach in the same thread shares it,
 * so holdings follow the thread), else the first free one.
 */
function claimSlot(i32: Int32Array, partitions: number, name: string): number {
  const slots = i32[SLOT_COUNT]!
  const used = Atomics.load(i32, SLOTS_USED)
  for (let i = 0; i < used; i++) {
    if (Atomics.load(i32, slotIndex(partitions, i) + S_OWNER) === OWNER_ID) return i
  }
  for (let i = 0; i < slots; i++) {
    if (Atomics.compareExchange(i32, slotIndex(partitions, i) + S_OWNER, 0, OWNER_ID) !== 0) continue
    for (let seen = Atomics.load(i32, SLOTS_USED); seen < i + 1; ) {
      const prev = Atomics.compareExchange(i32, SLOTS_USED, seen, i + 1)
      if (prev === seen) break
      seen = prev
    }
    return i
  }
  throw new LimitThreadSlotsError(name, slots)
}

/** One thread's view of the shared limit: the hot path, this thread's queue, and the update. */
class Engine {
  readonly name: string
  readonly partitionNames: readonly string[]
  readonly sem: Semaphore
  readonly i32: Int32Array
  readonly f64: Float64Array
  readonly big: BigInt64Array
  readonly now: () => number
  /** Added to `now()` for times other threads compare with (0 for a custom clock). */
  readonly origin: number
  readonly partitioned: boolean
  readonly #partitionIndex: Map<string, number>
  /** Int32 index of this thread's slot; Float64 index is half of it. */
  readonly slot: number
  readonly slotF: number
  /** Float64 index of this thread's counters of partition p. */
  readonly counterF: number[]
  /** Int32 index of this thread's block for partition p, and of p's shared line. */
  readonly spI: number[]
  readonly partI: number[]
  /** Float64 index of partition 0's counters: the unpartitioned hot path's. */
  readonly #c0: number
  readonly #bounds: Bounds
  readonly #lanes: Lane[]
  /**
   * One token in `stride` taken by tryAcquire is timed, so that each thread times about
   * SAMPLES_PER_TICK tokens per tick: two clock reads are the largest cost of the hot path, and more
   * samples than that do not change a window's mean. Set every busy tick from this thread's rate,
   * and doubled on the hot path when timed tokens come less than MIN_TIMED_GAP_MS apart (a busy
   * loop that leaves ticks no turn). Every counter stays exact: only the timing is sampled.
   */
  #stride = 1
  #untimed = 0
  #lastTimed = Number.NEGATIVE_INFINITY
  #acquiredAtTick = 0
  localWaiters = 0
  /**
   * Since when this thread's queue has been standing (its clock): it became non-empty then, and was
   * not empty for targetMs since. A queue emptied by a burst of releases and refilled within the
   * target was never drained — a server that completes work in batches empties it every batch — so
   * such a gap does not start a new busy period (CoDel's own test is the same: the least wait over an
   * interval, not an instant of emptiness).
   */
  #busySince = 0
  /** When this thread's queue last became empty. */
  #emptySince = Number.NEGATIVE_INFINITY
  #armed: AbortController | undefined
  #draining = false
  #seenLimit: number
  readonly #onChange: (change: LimitChange) => void

  constructor(
    handle: AdaptiveLimitHandle,
    sem: Semaphore,
    now: (() => number) | undefined,
    onChange: (c: LimitChange) => void,
  ) {
    this.name = handle.name
    this.partitionNames = handle.partitions
    this.sem = sem
    this.i32 = new Int32Array(handle.buffer)
    this.f64 = new Float64Array(handle.buffer)
    this.big = new BigInt64Array(handle.buffer)
    this.now = now ?? performance.now.bind(performance)
    this.origin = now ? 0 : performance.timeOrigin
    const P = handle.partitions.length
    this.partitioned = P > 1
    this.#partitionIndex = new Map(handle.partitions.map((name, p) => [name, p]))
    const slot = slotIndex(P, claimSlot(this.i32, P, this.name))
    this.slot = slot
    this.slotF = slot >> 1
    this.spI = handle.partitions.map((_, p) => slotPartitionIndex(slot, p))
    this.counterF = this.spI.map((i) => (i >> 1) + SP_COUNTERS)
    this.#c0 = this.counterF[0]!
    this.partI = handle.partitions.map((_, p) => partitionIndex(p))
    this.#bounds = { min: this.i32[MIN_LIMIT]!, max: this.i32[MAX_LIMIT]! }
    this.#lanes = handle.partitions.map(() => new Lane())
    this.#seenLimit = Atomics.load(this.i32, LIMIT)
    this.#onChange = onChange
    const ref = new WeakRef(this)
    const timer: NodeJS.Timeout = setInterval(() => {
      const engine = ref.deref()
      if (engine === undefined) clearInterval(timer)
      else engine.tick()
    }, TICK_MS)
    timer.unref()
    onWorkerExit(this, (engine, exited) => engine.reclaim(exited + 1))
  }

  indexOf(partition: string | undefined): number {
    if (partition === undefined && !this.partitioned) return 0
    const p = partition === undefined ? undefined : this.#partitionIndex.get(partition)
    if (p !== undefined) return p
    throw new InvalidOptionError(
      'partition',
      `must be one of ${this.partitionNames.map((n) => JSON.stringify(n)).join(', ')}, got ${partition === undefined ? 'undefined' : JSON.stringify(partition)}`,
    )
  }

  // ---- hot path --------------------------------------------------------------------------------

  tryAcquire(partition: string | undefined): Token | undefined {
    const p = this.partitioned || partition !== undefined ? this.indexOf(partition) : 0
    const token = this.#admitNow(p)
    if (token === undefined) this.f64[this.counterF[p]! + REJECTED]!++
    return token
  }

  /** acquire()'s way in without a promise: a token at once when nobody of this thread waits, else undefined (not counted). */
  admitAtOnce(partition: string | undefined): Token | undefined {
    const p = this.partitioned || partition !== undefined ? this.indexOf(partition) : 0
    return this.localWaiters === 0 ? this.#admitNow(p) : undefined
  }

  /** A token at once if the limit and the partition rules allow, counted; undefined, not counted, if not. */
  #admitNow(p: number): Token | undefined {
    if (this.partitioned) {
      const now = this.now()
      if (!this.#take(p, now, true)) return undefined
      this.i32[this.slot + S_HELD]!++
      this.f64[this.counterF[p]! + ACQUIRED]!++
      return new Token(this, p, now)
    }
    if (!this.sem.tryAcquire()) return undefined
    this.i32[this.slot + S_HELD]!++
    this.f64[this.#c0 + ACQUIRED]!++
    if (--this.#untimed > 0) return new Token(this, 0, Number.NaN)
    const now = this.now()
    if (now - this.#lastTimed < MIN_TIMED_GAP_MS && this.#stride < MAX_STRIDE) this.#stride *= 2
    this.#lastTimed = now
    this.#untimed = this.#stride
    return new Token(this, 0, now)
  }

  /**
   * Takes a semaphore permit for partition p if the limit and the partition rules allow it. Within
   * its share, a partition only needs a free permit; beyond it (a loan) also that no other partition
   * is below its share and asking for it (waiting, or refused within its share in the last interval).
   * `mark`: a refusal within the share asks for it back (tryAcquire); waiters ask by waiting.
   * Straight-line bookkeeping around the one call, so that a thread terminated inside leaves its
   * counts consistent for the reclaim.
   */
  #take(p: number, now: number, mark: boolean): boolean {
    if (!this.partitioned) return this.sem.tryAcquire()
    const i32 = this.i32
    const line = this.partI[p]!
    const prior = Atomics.add(i32, line + P_INFLIGHT, 1)
    i32[this.spI[p]! + SP_HELD]!++
    const within = prior < i32[line + P_GUARANTEED]!
    if ((within || this.#loanAllowed(p, now + this.origin)) && this.sem.tryAcquire()) return true
    Atomics.sub(i32, line + P_INFLIGHT, 1)
    i32[this.spI[p]! + SP_HELD]!--
    if (within && mark) {
      const f = (line >> 1) + P_WANT_AT
      const at = now + this.origin
      // Last write wins and any recent time will do: skip the store (a contended line) when fresh.
      if (at - this.f64[f]! > this.f64[INTERVAL_MS]! / 4) this.f64[f] = at
    }
    return false
  }

  #loanAllowed(p: number, abs: number): boolean {
    const i32 = this.i32
    const interval = this.f64[INTERVAL_MS]!
    for (let q = 0; q < this.partI.length; q++) {
      if (q === p) continue
      const line = this.partI[q]!
      if (Atomics.load(i32, line + P_INFLIGHT) >= i32[line + P_GUARANTEED]!) continue
      if (Atomics.load(i32, line + P_WAITING) > 0) return false
      if (abs - this.f64[(line >> 1) + P_WANT_AT]! < interval) return false
    }
    return true
  }

  release(p: number, start: number, outcome: number): void {
    const f64 = this.f64
    const i32 = this.i32
    if (outcome === SUCCEEDED && !Number.isNaN(start)) {
      f64[this.slotF + S_SAMPLES]!++
      f64[this.slotF + S_RTT_SUM]! += this.now() - start
    }
    f64[this.counterF[p]! + outcome]!++
    i32[this.slot + S_HELD]!--
    if (this.partitioned) {
      i32[this.spI[p]! + SP_HELD]!--
      Atomics.sub(i32, this.partI[p]! + P_INFLIGHT, 1)
    }
    this.sem.release()
    if (this.localWaiters !== 0) this.drain()
  }

  // ---- the queue -------------------------------------------------------------------------------

  acquire(partition: string | undefined, signal: AbortSignal | undefined, timeoutMs: number | undefined) {
    const p = this.indexOf(partition)
    if (signal?.aborted) {
      this.f64[this.counterF[p]! + ABORTED]!++
      return Promise.reject(signal.reason)
    }
    // Waiters of this thread go first: a newcomer only takes a slot directly when none waits here.
    if (this.localWaiters === 0) {
      const token = this.#admitNow(p)
      if (token !== undefined) return Promise.resolve(token)
    }
    const now = this.now()
    const f64 = this.f64
    const i32 = this.i32
    const maxWaiters = i32[MAX_WAITERS]!
    if (maxWaiters === 0) {
      f64[this.counterF[p]! + REJECTED]!++
      return Promise.reject(
        new LimitExceededError(this.name, this.partitionNames[p]!, Atomics.load(i32, LIMIT)),
      )
    }
    if (timeoutMs === 0) {
      f64[this.counterF[p]! + TIMED_OUT]!++
      return Promise.reject(new LimitTimeoutError(this.name, this.partitionNames[p]!, 'timeout', 0))
    }
    if (Atomics.add(i32, WAITING, 1) >= maxWaiters) {
      Atomics.sub(i32, WAITING, 1)
      f64[this.counterF[p]! + QUEUE_FULL]!++
      return Promise.reject(new LimitQueueFullError(this.name, this.partitionNames[p]!, maxWaiters))
    }
    return this.#enqueue(p, now, timeoutMs, signal)
  }

  #enqueue(
    p: number,
    now: number,
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Token> {
    const f64 = this.f64
    const i32 = this.i32
    if (this.localWaiters === 0 && now - this.#emptySince >= f64[TARGET_MS]!) this.#busySince = now
    // CoDel: refused once older than the target while the queue has been non-empty for the
    // interval. The queue stays non-empty while this waiter is in it, so both moments are known now.
    const codelAt = Math.max(now + f64[TARGET_MS]!, this.#busySince + f64[INTERVAL_MS]!)
    const maxAt = now + f64[MAX_WAIT_MS]!
    const timeoutAt = timeoutMs === undefined ? Number.POSITIVE_INFINITY : now + timeoutMs
    let deadline = timeoutAt
    let reason: LimitTimeoutReason = 'timeout'
    if (maxAt < deadline) [deadline, reason] = [maxAt, 'maxWait']
    if (codelAt < deadline) [deadline, reason] = [codelAt, 'codel']
    const { promise, resolve, reject } = Promise.withResolvers<Token>()
    const waiter: Waiter = {
      p,
      at: now,
      deadline,
      reason,
      resolve,
      reject,
      signal,
      timer: undefined,
      onAbort: undefined,
      queued: true,
      prev: undefined,
      next: undefined,
    }
    const lane = this.#lanes[p]!
    waiter.prev = lane.tail
    if (lane.tail) lane.tail.next = waiter
    else lane.head = waiter
    lane.tail = waiter
    lane.length++
    this.localWaiters++
    i32[this.slot + S_WAITERS]!++
    f64[this.slotF + S_QUEUED]!++
    if (this.partitioned) {
      i32[this.spI[p]! + SP_WAITERS]!++
      Atomics.add(i32, this.partI[p]! + P_WAITING, 1)
    }
    // The timer is a backstop: deadlines are also checked whenever a slot is handed out, on this
    // instance's clock, which is what makes a simulated clock (`now`) deterministic.
    const onTimer = () => {
      if (!waiter.queued) return
      const at = this.now()
      if (at >= waiter.deadline) this.#refuse(waiter, at)
      else waiter.timer = setTimeout(onTimer, Math.max(1, Math.ceil(waiter.deadline - at)))
    }
    waiter.timer = setTimeout(onTimer, Math.max(1, Math.ceil(deadline - now)))
    if (signal) {
      waiter.onAbort = () => {
        if (!waiter.queued) return
        this.#unlink(waiter)
        this.f64[this.counterF[p]! + ABORTED]!++
        reject(signal.reason)
      }
      signal.addEventListener('abort', waiter.onAbort, { once: true })
    }
    this.drain()
    return promise
  }

  #unlink(w: Waiter): void {
    const lane = this.#lanes[w.p]!
    if (w.prev) w.prev.next = w.next
    else lane.head = w.next
    if (w.next) w.next.prev = w.prev
    else lane.tail = w.prev
    w.prev = w.next = undefined
    w.queued = false
    lane.length--
    this.localWaiters--
    const i32 = this.i32
    Atomics.sub(i32, WAITING, 1)
    i32[this.slot + S_WAITERS]!--
    if (this.partitioned) {
      i32[this.spI[w.p]! + SP_WAITERS]!--
      Atomics.sub(i32, this.partI[w.p]! + P_WAITING, 1)
    }
    if (w.timer) clearTimeout(w.timer)
    if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort)
    if (this.localWaiters === 0) {
      this.#emptySince = this.now()
      this.#disarm()
    }
  }

  #refuse(w: Waiter, now: number): void {
    this.#unlink(w)
    this.f64[this.counterF[w.p]! + TIMED_OUT]!++
    w.reject(new LimitTimeoutError(this.name, this.partitionNames[w.p]!, w.reason, now - w.at))
  }

  #grant(w: Waiter, now: number): void {
    this.#unlink(w)
    const f64 = this.f64
    this.i32[this.slot + S_HELD]!++
    f64[this.counterF[w.p]! + ACQUIRED]!++
    const waited = now - w.at
    let b = 0
    while (waited > QUEUE_TIME_BOUNDS_MS[b]!) b++
    f64[this.slotF + S_HIST + b]!++
    f64[this.slotF + S_HIST_SUM]! += waited
    w.resolve(new Token(this, w.p, now))
  }

  #expire(now: number): void {
    for (const lane of this.#lanes) {
      for (let w = lane.head; w !== undefined; ) {
        const next = w.next
        if (now >= w.deadline) this.#refuse(w, now)
        w = next
      }
    }
  }

  /**
   * The waiter to serve next, or undefined if none may have a slot now: the partition furthest
   * below its share first (a share of 0 last); then, in it, the newest once its oldest has waited
   * longer than the target (adaptive LIFO), else the oldest.
   */
  #pick(now: number): Waiter | undefined {
    let best = -1
    let score = Number.POSITIVE_INFINITY
    for (let p = 0; p < this.#lanes.length; p++) {
      if (this.#lanes[p]!.length === 0) continue
      if (!this.partitioned) {
        best = p
        break
      }
      const line = this.partI[p]!
      const guaranteed = this.i32[line + P_GUARANTEED]!
      const s = guaranteed > 0 ? Atomics.load(this.i32, line + P_INFLIGHT) / guaranteed : Number.MAX_VALUE
      if (best < 0 || s < score) [best, score] = [p, s]
    }
    if (best < 0) return undefined
    if (this.partitioned && score >= 1 && !this.#loanAllowed(best, now + this.origin)) return undefined
    const lane = this.#lanes[best]!
    // Standing by CoDel's signal: the oldest waiter has waited longer than the target.
    const standing =
      this.i32[LIFO] === 1 && now - lane.head!.at >= Math.min(this.f64[TARGET_MS]!, this.f64[INTERVAL_MS]!)
    return standing ? lane.tail : lane.head
  }

  /** Hands free slots to this thread's waiters; arms a wait for a slot freed elsewhere if some remain. */
  drain(): void {
    if (this.#draining) return
    this.#draining = true
    try {
      const now = this.now()
      this.#expire(now)
      for (let w = this.#pick(now); w !== undefined && this.#take(w.p, now, false); w = this.#pick(now)) {
        this.#grant(w, now)
      }
      if (this.localWaiters > 0 && this.#pick(now) !== undefined) this.#arm()
      else this.#disarm()
    } finally {
      this.#draining = false
    }
  }

  #arm(): void {
    if (this.#armed) return
    const ac = new AbortController()
    this.#armed = ac
    this.sem.acquire({ signal: ac.signal }).then(
      () => this.#onPermit(ac),
      () => {
        if (this.#armed === ac) this.#armed = undefined
      },
    )
  }

  #disarm(): void {
    if (!this.#armed) return
    this.#armed.abort(DISARMED)
    this.#armed = undefined
  }

  /** The semaphore granted the parked acquire a permit (freed by another thread, or by a raised limit). */
  #onPermit(ac: AbortController): void {
    if (this.#armed === ac) this.#armed = undefined
    const now = this.now()
    this.#expire(now)
    const w = this.#pick(now)
    if (w === undefined) {
      this.sem.release()
    } else {
      if (this.partitioned) {
        Atomics.add(this.i32, this.partI[w.p]! + P_INFLIGHT, 1)
        this.i32[this.spI[w.p]! + SP_HELD]!++
      }
      this.#grant(w, now)
    }
    if (this.localWaiters > 0) this.drain()
  }

  // ---- off the hot path ------------------------------------------------------------------------

  tick(): void {
    let acquired = 0
    for (const c of this.counterF) acquired += this.f64[c + ACQUIRED]!
    if (acquired > this.#acquiredAtTick) {
      this.#stride = Math.max(1, Math.floor((acquired - this.#acquiredAtTick) / SAMPLES_PER_TICK))
      this.#acquiredAtTick = acquired
    }
    const abs = this.now() + this.origin
    if (abs >= this.f64[NEXT_UPDATE_AT]!) this.#update(abs)
    this.noticeChange()
    if (this.localWaiters > 0) this.drain()
  }

  /** Emits 'change' in this thread when the published limit differs from the last one it saw. */
  noticeChange(): void {
    const to = Atomics.load(this.i32, LIMIT)
    if (to === this.#seenLimit) return
    const from = this.#seenLimit
    this.#seenLimit = to
    this.#onChange({ from, to })
  }

  /** Closes the window if it is due, runs the algorithm and publishes the new limit. One thread at a time. */
  #update(abs: number): void {
    const i32 = this.i32
    const f64 = this.f64
    if (Atomics.compareExchange(i32, UPDATE_LOCK, 0, OWNER_ID) !== 0) return
    try {
      if (abs < f64[NEXT_UPDATE_AT]!) return
      f64[NEXT_UPDATE_AT] = abs + TICK_MS
      const t = this.readTotals()
      let drops = 0
      let succeeded = 0
      let busy = t.queued
      for (let p = 0; p < this.partI.length; p++) {
        const c = p * COUNTERS
        drops += t.counters[c + DROPPED]!
        succeeded += t.counters[c + SUCCEEDED]!
        busy += t.counters[c + REJECTED]! + t.counters[c + QUEUE_FULL]! + t.counters[c + TIMED_OUT]!
      }
      const samples = t.samples - f64[LAST + LAST_SAMPLES]!
      const rttSum = t.rttSum - f64[LAST + LAST_RTT_SUM]!
      const dropped = drops - f64[LAST + LAST_DROPS]!
      const duration = abs - f64[WINDOW_START]!
      if (samples + dropped < MIN_SAMPLES && duration < MAX_WINDOW_MS) return
      const rttMs = samples > 0 ? rttSum / samples : Number.NaN
      const throughput = (succeeded - f64[LAST + LAST_SUCCEEDED]!) / Math.max(duration, 1e-6)
      const w: Window = {
        samples,
        rttMs,
        drops: dropped,
        busy: busy - f64[LAST + LAST_BUSY]!,
        // Little's law over every success, timed or not: mean RTT × completions / duration.
        avgInFlight: samples > 0 ? rttMs * throughput : 0,
        inFlight: t.held,
        throughput,
      }
      f64[LAST + LAST_SAMPLES] = t.samples
      f64[LAST + LAST_RTT_SUM] = t.rttSum
      f64[LAST + LAST_DROPS] = drops
      f64[LAST + LAST_BUSY] = busy
      f64[LAST + LAST_SUCCEEDED] = succeeded
      f64[WINDOW_START] = abs
      if (samples + dropped === 0) return
      const estimate = f64[ESTIMATE]!
      if (samples > 0) {
        f64[SAMPLE_RTT] = w.rttMs
        updateBaseline(f64, ALGO_STATE, estimate, w)
      }
      const next = ALGORITHM_FUNCTIONS[i32[ALGORITHM]!]!(f64, ALGO_STATE, estimate, w, this.#bounds)
      f64[ESTIMATE] = next
      f64[MIN_RTT] = baseline(f64, ALGO_STATE)
      Atomics.add(i32, EPOCH, 1)
      const limit = Math.max(this.#bounds.min, Math.min(this.#bounds.max, Math.floor(next + 1e-9)))
      const from = Atomics.load(i32, LIMIT)
      if (limit !== from) {
        // The semaphore admits; LIMIT is what readers see. Ordered so that the semaphore's max is
        // never above LIMIT: a lower limit reaches the semaphore first, a higher one LIMIT first.
        // CHANGES is odd in between, so a reader can tell whether it saw at most one change.
        Atomics.add(i32, CHANGES, 1)
        if (limit < from) this.sem.resize(limit)
        Atomics.store(i32, LIMIT, limit)
        if (limit > from) this.sem.resize(limit)
        this.publishShares(limit)
        Atomics.add(i32, CHANGES, 1)
      }
    } finally {
      Atomics.store(i32, UPDATE_LOCK, 0)
    }
  }

  publishShares(limit: number): void {
    const shares = this.partI.map((line) => this.f64[(line >> 1) + P_SHARE]!)
    guaranteedShares(limit, shares).forEach((g, p) => {
      Atomics.store(this.i32, this.partI[p]! + P_GUARANTEED, g)
    })
  }

  /** Retired totals plus every live slot, retried across a reclaim so that a dying slot counts exactly once. */
  readTotals(): Totals {
    const i32 = this.i32
    for (let attempt = 0; ; attempt++) {
      const seq = Atomics.load(i32, RECLAIM_SEQ)
      if ((seq & 1) === 1 && attempt < 10_000) continue
      const t = this.#sum()
      if (!LOADS_IN_ORDER) Atomics.store(fence, 0, 0)
      if (Atomics.load(i32, RECLAIM_SEQ) === seq || attempt >= 10_000) return t
    }
  }

  #sum(): Totals {
    const i32 = this.i32
    const f64 = this.f64
    const big = this.big
    const P = this.partI.length
    const counters = new Float64Array(P * COUNTERS)
    for (let p = 0; p < P; p++) {
      const r = retiredPartitionIndex(P, p)
      for (let c = 0; c < COUNTERS; c++) counters[p * COUNTERS + c] = Number(Atomics.load(big, r + c))
    }
    const g = retiredGlobalIndex(P)
    const hist = new Float64Array(HIST_BUCKETS)
    for (let b = 0; b < HIST_BUCKETS; b++) hist[b] = Number(Atomics.load(big, g + R_HIST + b))
    const t: Totals = {
      counters,
      samples: Number(Atomics.load(big, g + R_SAMPLES)),
      rttSum: Number(Atomics.load(big, g + R_RTT_SUM_US)) / 1000,
      queued: Number(Atomics.load(big, g + R_QUEUED)),
      histSum: Number(Atomics.load(big, g + R_HIST_SUM_US)) / 1000,
      hist,
      held: 0,
    }
    const used = Atomics.load(i32, SLOTS_USED)
    for (let i = 0; i < used; i++) {
      const s = slotIndex(P, i)
      if (Atomics.load(i32, s + S_OWNER) <= 0) continue
      const sf = s >> 1
      t.samples += f64[sf + S_SAMPLES]!
      t.rttSum += f64[sf + S_RTT_SUM]!
      t.queued += f64[sf + S_QUEUED]!
      t.histSum += f64[sf + S_HIST_SUM]!
      for (let b = 0; b < HIST_BUCKETS; b++) hist[b]! += f64[sf + S_HIST + b]!
      t.held += i32[s + S_HELD]!
      for (let p = 0; p < P; p++) {
        const base = (slotPartitionIndex(s, p) >> 1) + SP_COUNTERS
        for (let c = 0; c < COUNTERS; c++) counters[p * COUNTERS + c]! += f64[base + c]!
      }
    }
    return t
  }

  /** Folds a dead thread's slot into the retired totals and returns its tokens; once, whoever calls. */
  reclaim(owner: number): void {
    const i32 = this.i32
    const f64 = this.f64
    const big = this.big
    const P = this.partI.length
    const used = Atomics.load(i32, SLOTS_USED)
    for (let i = 0; i < used; i++) {
      const s = slotIndex(P, i)
      if (Atomics.load(i32, s + S_OWNER) !== owner) continue
      // RECLAIM_SEQ is odd from before the slot leaves the live sums until its counts are in the
      // retired totals; taking it by CAS from even also keeps two reclaiming threads apart.
      let seq = Atomics.load(i32, RECLAIM_SEQ)
      for (;;) {
        if ((seq & 1) === 0) {
          const seen = Atomics.compareExchange(i32, RECLAIM_SEQ, seq, seq + 1)
          if (seen === seq) break
          seq = seen
        } else seq = Atomics.load(i32, RECLAIM_SEQ)
      }
      if (Atomics.compareExchange(i32, s + S_OWNER, owner, RECLAIMING) !== owner) {
        Atomics.store(i32, RECLAIM_SEQ, seq + 2)
        continue
      }
      const sf = s >> 1
      for (let p = 0; p < P; p++) {
        const sp = slotPartitionIndex(s, p)
        const base = (sp >> 1) + SP_COUNTERS
        const r = retiredPartitionIndex(P, p)
        for (let c = 0; c < COUNTERS; c++) {
          Atomics.add(big, r + c, BigInt(f64[base + c]!))
          f64[base + c] = 0
        }
        if (this.partitioned) {
          Atomics.sub(i32, this.partI[p]! + P_INFLIGHT, i32[sp + SP_HELD]!)
          Atomics.sub(i32, this.partI[p]! + P_WAITING, i32[sp + SP_WAITERS]!)
        }
        i32[sp + SP_HELD] = 0
        i32[sp + SP_WAITERS] = 0
      }
      const g = retiredGlobalIndex(P)
      Atomics.add(big, g + R_SAMPLES, BigInt(f64[sf + S_SAMPLES]!))
      Atomics.add(big, g + R_RTT_SUM_US, BigInt(Math.round(f64[sf + S_RTT_SUM]! * 1000)))
      Atomics.add(big, g + R_QUEUED, BigInt(f64[sf + S_QUEUED]!))
      Atomics.add(big, g + R_HIST_SUM_US, BigInt(Math.round(f64[sf + S_HIST_SUM]! * 1000)))
      for (let b = 0; b < HIST_BUCKETS; b++) {
        Atomics.add(big, g + R_HIST + b, BigInt(f64[sf + S_HIST + b]!))
        f64[sf + S_HIST + b] = 0
      }
      f64[sf + S_SAMPLES] = f64[sf + S_RTT_SUM] = f64[sf + S_QUEUED] = f64[sf + S_HIST_SUM] = 0
      Atomics.sub(i32, WAITING, i32[s + S_WAITERS]!)
      Atomics.add(i32, RECLAIMED, i32[s + S_HELD]!)
      i32[s + S_WAITERS] = 0
      i32[s + S_HELD] = 0
      Atomics.store(i32, RECLAIM_SEQ, seq + 2)
      // A thread terminated inside the update leaves the lock taken.
      Atomics.compareExchange(i32, UPDATE_LOCK, owner, 0)
      Atomics.store(i32, s + S_OWNER, 0)
      // Its semaphore permits, through the semaphore's own reclaim.
      this.sem.watch(exitedWorker(owner - 1))
      return
    }
  }
}

/**
 * For httpLimiter (this package only, not exported from index.ts): a token at once when one is free
 * and nobody of this thread waits, else undefined, uncounted — then it waits through acquire(). It
 * spares most requests the promise, the AbortController and the listener a wait needs.
 */
export let admitAtOnce: (limit: AdaptiveLimit, partition: string | undefined) => Token | undefined

/** Module-private: `new AdaptiveLimit(new Attach(handle))` is how attach() builds a view. */
class Attach {
  constructor(readonly handle: AdaptiveLimitHandle) {}
}

/**
 * An adaptive concurrency limit shared by every worker thread: `new AdaptiveLimit(options)` in one
 * thread, `AdaptiveLimit.attach(limit.handle)` in the others, and all of them draw on the same limit
 * and in-flight count, and feed the same update with their RTT samples.
 *
 * Events: `'change'` with `{ from, to }` in every thread holding the limit, within ~100 ms of it.
 */
export class AdaptiveLimit extends EventEmitter<{ change: [LimitChange] }> {
  readonly name: string
  readonly algorithm: AlgorithmName
  readonly handle: AdaptiveLimitHandle
  /** Partition names; `['default']` without partitions. */
  readonly partitions: readonly string[]
  readonly #engine: Engine

  constructor(options: AdaptiveLimitOptions | Attach) {
    super()
    let handle: AdaptiveLimitHandle
    let sem: Semaphore
    let now: (() => number) | undefined
    if (options instanceof Attach) {
      handle = options.handle
      sem = Semaphore.attach(handle.semaphore)
    } else {
      const o = resolveOptions(options)
      now = o.now
      const P = o.partitionNames.length
      const buffer = new SharedArrayBuffer(bufferBytes(P, o.maxThreads))
      const i32 = new Int32Array(buffer)
      const f64 = new Float64Array(buffer)
      i32[LIMIT] = o.initialLimit
      i32[MAX_WAITERS] = o.maxWaiters
      i32[SLOT_COUNT] = o.maxThreads
      i32[PARTITION_COUNT] = P
      i32[ALGORITHM] = o.algorithm
      i32[MIN_LIMIT] = o.minLimit
      i32[MAX_LIMIT] = o.maxLimit
      i32[LIFO] = o.lifo ? 1 : 0
      f64[MAX_WAIT_MS] = o.maxWaitMs
      f64[TARGET_MS] = o.targetMs
      f64[INTERVAL_MS] = o.intervalMs
      f64[ESTIMATE] = o.initialLimit
      f64[MIN_RTT] = f64[SAMPLE_RTT] = Number.NaN
      const start = (now ?? performance.now.bind(performance))() + (now ? 0 : performance.timeOrigin)
      f64[WINDOW_START] = start
      f64[NEXT_UPDATE_AT] = start + TICK_MS
      o.shares.forEach((share, p) => {
        f64[(partitionIndex(p) >> 1) + P_SHARE] = share
        f64[(partitionIndex(p) >> 1) + P_WANT_AT] = Number.NEGATIVE_INFINITY
      })
      sem = new Semaphore({
        name: o.name,
        max: o.initialLimit,
        // Each thread parks at most one acquire() per limit instance; its own queue is the bound.
        maxWaiters: 2 ** 30,
        maxThreads: o.maxThreads,
      })
      handle = {
        kind: HANDLE_KIND,
        version: LAYOUT_VERSION,
        name: o.name,
        buffer,
        semaphore: sem.handle,
        partitions: o.partitionNames,
      }
    }
    this.handle = handle
    this.name = handle.name
    this.partitions = handle.partitions
    this.#engine = new Engine(handle, sem, now, (change) => this.emit('change', change))
    this.algorithm = ALGORITHMS[this.#engine.i32[ALGORITHM]!]!
    if (!(options instanceof Attach)) this.#engine.publishShares(this.#engine.i32[LIMIT]!)
  }

  static {
    admitAtOnce = (limit, partition) => limit.#engine.admitAtOnce(partition)
  }

  /** The same limit, seen from this thread. Throws `ERR_BEAMLINE_INVALID_HANDLE` for anything else. */
  static attach(handle: AdaptiveLimitHandle): AdaptiveLimit {
    const h = checkHandle<AdaptiveLimitHandle>(handle, HANDLE_KIND, LAYOUT_VERSION)
    const partitions = h.partitions
    if (
      typeof h.name !== 'string' ||
      !Array.isArray(partitions) ||
      partitions.length < 1 ||
      partitions.length > MAX_PARTITIONS ||
      !partitions.every((p) => typeof p === 'string')
    ) {
      throw new InvalidHandleError(`${HANDLE_KIND} handle: name or partitions missing`)
    }
    const buffer = checkSharedBuffer(HANDLE_KIND, 'buffer', h.buffer, bufferBytes(partitions.length, 1))
    const header = new Int32Array(buffer, 0, PARTITION_COUNT + 1)
    const slots = header[SLOT_COUNT]!
    if (
      header[PARTITION_COUNT] !== partitions.length ||
      slots < 1 ||
      buffer.byteLength !== bufferBytes(partitions.length, slots)
    ) {
      throw new InvalidHandleError(`${HANDLE_KIND} handle: buffer does not hold this limit`)
    }
    return new AdaptiveLimit(new Attach(h))
  }

  /** The current limit, all threads. One atomic load. */
  get limit(): number {
    return Atomics.load(this.#engine.i32, LIMIT)
  }

  /** Tokens held now, all threads (a sum over threads: cheap, not free). */
  get inFlight(): number {
    const e = this.#engine
    if (e.partitioned) return e.partI.reduce((sum, line) => sum + Atomics.load(e.i32, line + P_INFLIGHT), 0)
    return e.readTotals().held
  }

  /**
   * A token if the limit (and the partition's share) allows one now, else `undefined` at once,
   * counted in `rejected`. Never waits, never queues. Ends with success(), dropped() or ignore().
   */
  tryAcquire(partition?: string): Token | undefined {
    return this.#engine.tryAcquire(partition)
  }

  /**
   * A token now if one is free and nobody of this thread waits, else after waiting in the queue
   * (CoDel, adaptive LIFO, `queue.maxWaitMs`, the caller's `timeoutMs`). Rejects with
   * `ERR_BEAMLINE_LIMIT_EXCEEDED` (no queue), `ERR_BEAMLINE_LIMIT_QUEUE_FULL`,
   * `ERR_BEAMLINE_LIMIT_TIMEOUT`, the signal's reason, or `ERR_BEAMLINE_INVALID_OPTION`.
   */
  acquire(options: AcquireOptions | null = {}): Promise<Token> {
    try {
      const { partition, signal, timeoutMs: t } = options ?? {}
      const timeoutMs =
        t === undefined ? undefined : numberOption('timeoutMs', t, { min: 0, max: MAX_TIMEOUT_MS })
      return this.#engine.acquire(partition, signal, timeoutMs)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * `acquire`, run `fn`, and end the token from the outcome: `success()` when it fulfils,
   * `ignore()` when it rejects with an AbortError (the caller gave up), `dropped()` otherwise.
   */
  async call<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<Awaited<T>> {
    const token =
      (options?.signal?.aborted ? undefined : this.#engine.admitAtOnce(options?.partition)) ??
      (await this.acquire(options))
    let value: Awaited<T>
    try {
      value = await fn()
    } catch (err) {
      if ((err as { name?: unknown } | null)?.name === 'AbortError') token.ignore()
      else token.dropped()
      throw err
    }
    token.success()
    return value
  }

  /**
   * When `worker` exits, for whatever reason, returns the tokens it held, forgets its waiters, keeps
   * its statistics and frees its slot. Workers created by a thread that holds this limit are watched
   * without this call; use it for workers created elsewhere.
   */
  watch(worker: WatchableWorker): void {
    const owner = worker.threadId + 1
    if (owner <= 0) return
    const engine = this.#engine
    worker.once('exit', () => engine.reclaim(owner))
  }

  /** A snapshot summed over all threads; exact when no other thread is mid-operation. */
  stats(): AdaptiveLimitStats {
    const e = this.#engine
    const i32 = e.i32
    const f64 = e.f64
    const t = e.readTotals()
    const byPartition: Record<string, LimitPartitionStats> = {}
    const total = new Float64Array(COUNTERS)
    e.partitionNames.forEach((name, p) => {
      const c = (k: number) => t.counters[p * COUNTERS + k]!
      for (let k = 0; k < COUNTERS; k++) total[k]! += c(k)
      const line = e.partI[p]!
      byPartition[name] = {
        share: f64[(line >> 1) + P_SHARE]!,
        guaranteed: Atomics.load(i32, line + P_GUARANTEED),
        inFlight: e.partitioned ? Atomics.load(i32, line + P_INFLIGHT) : t.held,
        queued: e.partitioned ? Atomics.load(i32, line + P_WAITING) : Atomics.load(i32, WAITING),
        acquired: c(ACQUIRED),
        succeeded: c(SUCCEEDED),
        dropped: c(DROPPED),
        ignored: c(IGNORED),
        rejected: c(REJECTED),
        queueFull: c(QUEUE_FULL),
        timedOut: c(TIMED_OUT),
        aborted: c(ABORTED),
      }
    })
    const counts: number[] = []
    const queuedAdmitted = t.hist.reduce((a, b) => a + b, 0)
    let cumulative = Math.max(0, total[ACQUIRED]! - queuedAdmitted)
    for (let b = 0; b < HIST_BUCKETS; b++) counts.push((cumulative += t.hist[b]!))
    return {
      name: this.name,
      algorithm: this.algorithm,
      limit: Atomics.load(i32, LIMIT),
      minLimit: i32[MIN_LIMIT]!,
      maxLimit: i32[MAX_LIMIT]!,
      inFlight: e.partitioned
        ? e.partI.reduce((sum, line) => sum + Atomics.load(i32, line + P_INFLIGHT), 0)
        : t.held,
      queued: Atomics.load(i32, WAITING),
      minRttMs: f64[MIN_RTT]!,
      sampleRttMs: f64[SAMPLE_RTT]!,
      acquired: total[ACQUIRED]!,
      succeeded: total[SUCCEEDED]!,
      dropped: total[DROPPED]!,
      ignored: total[IGNORED]!,
      rejected: total[REJECTED]!,
      queueFull: total[QUEUE_FULL]!,
      timedOut: total[TIMED_OUT]!,
      aborted: total[ABORTED]!,
      windows: Atomics.load(i32, EPOCH),
      limitChanges: Atomics.load(i32, CHANGES) >>> 1,
      reclaimed: Atomics.load(i32, RECLAIMED),
      queueTime: { boundsMs: QUEUE_TIME_BOUNDS_MS, counts, sumMs: t.histSum, count: cumulative },
      byPartition,
    }
  }
}
