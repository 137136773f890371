/*
 * A counting semaphore in a SharedArrayBuffer, shared by every thread that attaches to it.
 * Memory layout, writers, the invariants (statistics that never move, the counting identity) and the
 * reasons for each Atomics or plain access: see ./layout.ts. In short: header [FREE, MAX, WAITING,
 * SEQ, MAX_WAITERS, SLOT_COUNT] in the first cache line; then one cache line per thread slot holding
 * what its occupant alone writes (permits held, peak, parked waiters, acquired / rejected / timed-out
 * counts, which stay in the slot after the thread dies). The hot path is one CAS on FREE to acquire
 * and one Atomics.add to release; everything per thread is a plain store to its own line.
 */
import { threadId } from 'node:worker_threads'
import {
  checkHandle,
  checkSharedBuffer,
  InvalidHandleError,
  InvalidOptionError,
  integerOption,
  nameOption,
  onWorkerExit,
  optionsObject,
  type SharedHandle,
  timeoutOption,
  WaitQueue,
  type WatchableWorker,
} from '@beamline/core'
import {
  SemaphoreFullError,
  SemaphoreOverReleaseError,
  SemaphoreQueueFullError,
  SemaphoreThreadSlotsError,
  SemaphoreTimeoutError,
} from './errors.js'
import {
  ACQUIRED,
  bufferBytes,
  FREE,
  HANDLE_KIND,
  HELD,
  LAYOUT_VERSION,
  MAX,
  MAX_WAITERS,
  OWNER,
  PEAK,
  RECLAIMED,
  RECLAIMING,
  REJECTED,
  SEQ,
  SLOT_COUNT,
  slotIndex,
  TIMED_OUT,
  WAITERS,
  WAITING,
} from './layout.js'

/** Largest `max`, and largest number of permits one call may take: FREE must fit an Int32 with room to go negative. */
export const MAX_PERMITS = 2 ** 30

export interface SemaphoreOptions {
  /** Name shown in `stats()`, errors and metrics (label `semaphore`). Non-empty, at most 200 UTF-8 bytes. */
  name: string
  /**
   * Permits available across all threads. Integer from 1 to 2^30. Change it later with `resize()`.
   */
  max: number
  /**
   * How many `acquire()` calls may be parked at once, summed over all threads; one more fails at once
   * with `ERR_BEAMLINE_SEMAPHORE_QUEUE_FULL`. Integer from 0 (never park: `acquire()` either gets a
   * permit at once or fails) to 2^30. Default 1000. `tryAcquire`, `call` and `tryCall` never park.
   */
  maxWaiters?: number
  /**
   * How many threads may attach at once: each takes a 64-byte slot for its holdings and statistics.
   * A worker's slot is freed when it exits (see `watch()` for which exits are seen). Integer from 1 to
   * 4096. Default 256.
   */
  maxThreads?: number
}

/** Plain data plus the buffer: survives `structuredClone`, so send it through `workerData` or `postMessage`. */
export interface SemaphoreHandle extends SharedHandle<typeof HANDLE_KIND> {
  readonly name: string
  readonly buffer: SharedArrayBuffer
}

export interface AcquireOptions {
  /** Permits to take at once. Integer from 1 to the semaphore's max. Default 1. */
  permits?: number
  /** Abort the wait; the returned promise rejects with `signal.reason`. */
  signal?: AbortSignal
  /**
   * Milliseconds to wait before failing with `ERR_BEAMLINE_SEMAPHORE_TIMEOUT`; 0 fails at once when no
   * permit is free. From 0 to 2 147 483 647 (about 24.8 days, setTimeout's limit). Default: wait
   * until a permit frees or the signal aborts.
   */
  timeoutMs?: number
}

/**
 * Summed over all threads, including threads that have exited. `acquired`, `rejected` and `timedOut`
 * count calls (one per `tryAcquire`, `acquire`, `call` or `tryCall`, whatever the permits it asked
 * for), so every call ends in exactly one of them: `acquired + rejected + timedOut` = calls made,
 * once none is parked (`waiting` = 0); calls that throw for an invalid argument (`permits` or `timeoutMs`
 * out of range) are not counted. No counter ever decreases, whatever threads exit meanwhile; all are
 * exact to 2^53.
 */
export interface SemaphoreStats {
  name: string
  max: number
  /** Permits held now. Exceeds `max` only after a shrinking `resize()`, until holders release. */
  inUse: number
  /** `acquire()` calls parked now, all threads. */
  waiting: number
  /** Calls granted since creation, one per call whatever its `permits`. */
  acquired: number
  /**
   * Calls rejected since creation: `tryAcquire`, `call` and `tryCall` that found no free permit,
   * `acquire()` that found `maxWaiters` callers parked (`ERR_BEAMLINE_SEMAPHORE_QUEUE_FULL`) or asked
   * for more permits than `max`.
   */
  rejected: number
  /**
   * `acquire()` calls that stopped waiting without a permit: `timeoutMs` passed, `signal` aborted
   * (also when already aborted at the call), or the calling thread exited while parked.
   */
  timedOut: number
  /** Highest `inUse` seen right after a grant. */
  peakInUse: number
  /** Permits returned to the pool on behalf of workers that exited holding them. */
  reclaimed: number
}

export type TryCallResult<T> = { ok: true; value: T } | { ok: false; reason: 'full' }

/** Module-private: what `Semaphore.attach()` hands the constructor. */
class Attach {
  constructor(readonly handle: SemaphoreHandle) {}
}

const OWNER_ID = threadId + 1

/**
 * Claims this thread's slot: the one it already owns (a second attach in the same thread shares it,
 * so holdings follow the thread, not the object), else the first free one.
 */
function claimSlot(i32: Int32Array, name: string): number {
  const slots = i32[SLOT_COUNT]!
  for (let i = 0; i < slots; i++)
    if (Atomics.load(i32, slotIndex(i) + OWNER) === OWNER_ID) return slotIndex(i)
  for (let i = 0; i < slots; i++) {
    if (Atomics.compareExchange(i32, slotIndex(i) + OWNER, 0, OWNER_ID) === 0) return slotIndex(i)
  }
  throw new SemaphoreThreadSlotsError(name, slots)
}

function permitsArgument(permits: unknown): number {
  return integerOption('permits', permits, 1, MAX_PERMITS)
}

/**
 * A semaphore shared by every worker thread: `new Semaphore(...)` in one thread, `Semaphore.attach(handle)`
 * in the others, and all of them draw on the same permits.
 */
export class Semaphore {
  readonly name: string
  readonly handle: SemaphoreHandle
  readonly #i32: Int32Array
  readonly #f64: Float64Array
  /** Int32 index of this thread's slot. */
  readonly #slot: number
  /** Float64 index of this thread's slot. */
  readonly #slotF: number
  /** This object's parked acquire() calls, each waiting for its `permits`; woken through SEQ. */
  readonly #queue: WaitQueue<number>

  constructor(options: SemaphoreOptions | Attach) {
    let handle: SemaphoreHandle
    if (options instanceof Attach) handle = options.handle
    else {
      optionsObject(options, 'with name and max')
      const name = nameOption('name', options.name)
      const max = integerOption('max', options.max, 1, MAX_PERMITS)
      const maxWaiters = integerOption('maxWaiters', options.maxWaiters, 0, MAX_PERMITS, 1000)
      const maxThreads = integerOption('maxThreads', options.maxThreads, 1, 4096, 256)
      const buffer = new SharedArrayBuffer(bufferBytes(maxThreads))
      const header = new Int32Array(buffer)
      header[FREE] = max
      header[MAX] = max
      header[MAX_WAITERS] = maxWaiters
      header[SLOT_COUNT] = maxThreads
      handle = { kind: HANDLE_KIND, version: LAYOUT_VERSION, name, buffer }
    }
    this.name = handle.name
    this.handle = handle
    this.#i32 = new Int32Array(handle.buffer)
    this.#f64 = new Float64Array(handle.buffer)
    this.#slot = claimSlot(this.#i32, this.name)
    this.#slotF = this.#slot >> 1
    this.#queue = new WaitQueue<number>(this.#i32, SEQ, {
      serve: (waiter) => {
        if (!this.#take(waiter.value)) return false
        this.#queue.settle(waiter)
        return true
      },
      left: () => {
        Atomics.sub(this.#i32, WAITING, 1)
        this.#i32[this.#slot + WAITERS]!--
      },
    })
    onWorkerExit(this, Semaphore.#reclaimExited)
  }

  /** The same semaphore, seen from this thread. Throws `ERR_BEAMLINE_INVALID_HANDLE` for anything else. */
  static attach(handle: SemaphoreHandle): Semaphore {
    const h = checkHandle<SemaphoreHandle>(handle, HANDLE_KIND, LAYOUT_VERSION)
    const buffer = checkSharedBuffer(HANDLE_KIND, 'buffer', h.buffer, bufferBytes(1))
    const slots = new Int32Array(buffer, 0, SLOT_COUNT + 1)[SLOT_COUNT]!
    if (slots < 1 || buffer.byteLength !== bufferBytes(slots) || typeof h.name !== 'string') {
      throw new InvalidHandleError(`${HANDLE_KIND} handle: buffer does not hold a semaphore`)
    }
    return new Semaphore(new Attach(h))
  }

  /** Takes `permits` if they are free now; never waits. A rejection counts in `rejected`. */
  tryAcquire(permits = 1): boolean {
    if (permits !== 1) permitsArgument(permits)
    if (this.#take(permits)) return true
    this.#count(REJECTED)
    return false
  }

  /** Returns permits this thread holds; wakes parked callers in any thread. */
  release(permits = 1): void {
    if (permits !== 1) permitsArgument(permits)
    const i32 = this.#i32
    const held = i32[this.#slot + HELD]!
    if (held < permits) throw new SemaphoreOverReleaseError(this.name, permits, held)
    i32[this.#slot + HELD] = held - permits
    Atomics.add(i32, FREE, permits)
    if (Atomics.load(i32, WAITING) !== 0) this.#wakeAll()
  }

  /**
   * Waits for permits (Atomics.waitAsync, no polling). Fails with `ERR_BEAMLINE_SEMAPHORE_QUEUE_FULL`
   * when `maxWaiters` callers are parked already, `ERR_BEAMLINE_SEMAPHORE_TIMEOUT` after `timeoutMs`,
   * or the signal's reason on abort. A pending acquire keeps its thread alive until it settles.
   * Order among parked callers: FIFO within a thread; across threads, whichever thread wakes first.
   * Counted once it ends: in `acquired`, `rejected` (queue full, or more permits than `max`) or
   * `timedOut` (deadline, abort).
   */
  acquire(options: AcquireOptions | null = {}): Promise<void> {
    const { permits: p, timeoutMs: t, signal } = options ?? {}
    const permits = integerOption('permits', p, 1, MAX_PERMITS, 1)
    const timeoutMs = timeoutOption('timeoutMs', t)
    if (signal?.aborted) {
      this.#count(TIMED_OUT)
      return Promise.reject(signal.reason)
    }
    // Callers already parked in this thread go first (FIFO): a newcomer only takes free permits
    // directly when nobody here waits, so a large request is not starved by a stream of small ones.
    if (this.#queue.empty && this.#take(permits)) return Promise.resolve()
    const i32 = this.#i32
    if (permits > Atomics.load(i32, MAX)) {
      this.#count(REJECTED)
      return Promise.reject(
        new InvalidOptionError(
          'permits',
          `${permits} can never be granted: max is ${Atomics.load(i32, MAX)}`,
        ),
      )
    }
    if (Atomics.add(i32, WAITING, 1) >= i32[MAX_WAITERS]!) {
      Atomics.sub(i32, WAITING, 1)
      this.#count(REJECTED)
      return Promise.reject(new SemaphoreQueueFullError(this.name, i32[MAX_WAITERS]!))
    }
    i32[this.#slot + WAITERS]!++
    // A parked caller that stops waiting without a permit (deadline or abort) counts in timedOut.
    return this.#queue.park(permits, {
      timeoutMs,
      onTimeout: () => {
        this.#count(TIMED_OUT)
        return new SemaphoreTimeoutError(this.name, timeoutMs!)
      },
      signal,
      onAbort: () => {
        this.#count(TIMED_OUT)
        return signal!.reason
      },
    })
  }

  /**
   * Runs `fn` holding one permit and releases it however `fn` ends. When no permit is free, throws
   * `SemaphoreFullError` (`ERR_BEAMLINE_SEMAPHORE_FULL`) at once instead of queueing.
   */
  async call<T>(fn: () => T | PromiseLike<T>): Promise<Awaited<T>> {
    if (!this.tryAcquire()) throw new SemaphoreFullError(this.name, Atomics.load(this.#i32, MAX))
    try {
      return await fn()
    } finally {
      this.release()
    }
  }

  /** Like `call`, but a full semaphore is a result, `{ ok: false, reason: 'full' }`, not an exception. */
  async tryCall<T>(fn: () => T | PromiseLike<T>): Promise<TryCallResult<Awaited<T>>> {
    if (!this.tryAcquire()) return { ok: false, reason: 'full' }
    try {
      return { ok: true, value: await fn() }
    } finally {
      this.release()
    }
  }

  /**
   * Sets a new max for all threads. Growing wakes parked callers; shrinking takes effect for every
   * later acquire at once, while permits already held stay held until released.
   */
  resize(max: number): void {
    const next = integerOption('max', max, 1, MAX_PERMITS)
    const i32 = this.#i32
    let current = Atomics.load(i32, MAX)
    for (;;) {
      const seen = Atomics.compareExchange(i32, MAX, current, next)
      if (seen === current) break
      current = seen
    }
    Atomics.add(i32, FREE, next - current)
    if (next > current && Atomics.load(i32, WAITING) !== 0) this.#wakeAll()
  }

  /**
   * When `worker` exits, for whatever reason, returns the permits it held to the pool (counted in
   * `reclaimed`), counts its parked acquire() calls in `timedOut`, keeps its statistics, and frees its
   * thread slot. Every Worker created by a thread from the moment it holds a Semaphore object (made
   * or attached) is reclaimed so already, by that thread, when it exits: `watch()` is needed only for
   * a Worker created before that. Without either, a worker that dies holding permits leaks them, as
   * discord/semaphore's call/3 did. A worker is reclaimed once, however many objects or threads see
   * its exit.
   */
  watch(worker: WatchableWorker): void {
    const owner = worker.threadId + 1
    if (owner <= 0) return // the worker has exited already: its id is gone, so is any way to find its slot
    worker.once('exit', () => this.#reclaim(owner))
  }

  /**
   * A snapshot summed over all threads, living or exited. No counter in it is ever lower than in an
   * earlier snapshot, whatever exits or reclaims happen meanwhile (see layout.ts).
   */
  stats(): SemaphoreStats {
    const i32 = this.#i32
    const f64 = this.#f64
    let acquired = 0
    let rejected = 0
    let timedOut = 0
    let reclaimed = 0
    let peakInUse = 0
    // Every slot, whatever its OWNER: counters stay in their slot for good (layout.ts), so a slot
    // being reclaimed or reused is still counted exactly once.
    const slots = i32[SLOT_COUNT]!
    for (let i = 0; i < slots; i++) {
      const s = slotIndex(i)
      const sf = s >> 1
      acquired += f64[sf + ACQUIRED]!
      rejected += f64[sf + REJECTED]!
      timedOut += f64[sf + TIMED_OUT]!
      reclaimed += f64[sf + RECLAIMED]!
      peakInUse = Math.max(peakInUse, i32[s + PEAK]!)
    }
    const max = Atomics.load(i32, MAX)
    return {
      name: this.name,
      max,
      inUse: max - Atomics.load(i32, FREE),
      waiting: Atomics.load(i32, WAITING),
      acquired,
      rejected,
      timedOut,
      peakInUse,
      reclaimed,
    }
  }

  /** Adds one to this thread's counter `field` (ACQUIRED, REJECTED or TIMED_OUT). */
  #count(field: number): void {
    this.#f64[this.#slotF + field]!++
  }

  /** The saturating decrement: grants only if `permits` are free, never drives FREE below zero. */
  #take(permits: number): boolean {
    const i32 = this.#i32
    // A plain read is only a guess for the CAS, which validates it; each Atomics call is a V8 builtin
    // costing about as much as the whole rest of this path. Before refusing, confirm with a real
    // Atomics.load so that a rejection is never based on a stale value.
    let free = i32[FREE]!
    if (free < permits) free = Atomics.load(i32, FREE)
    while (free >= permits) {
      const seen = Atomics.compareExchange(i32, FREE, free, free - permits)
      if (seen === free) {
        const s = this.#slot
        i32[s + HELD]! += permits
        this.#f64[this.#slotF + ACQUIRED]!++
        // Plain read: MAX only feeds the peak statistic here, an Int32 never tears, and a value a
        // resize() ago skews one sample at most; an Atomics.load would cost the hot path more.
        const inUse = i32[MAX]! - free + permits
        if (inUse > i32[s + PEAK]!) i32[s + PEAK] = inUse
        return true
      }
      free = seen
    }
    return false
  }

  #wakeAll(): void {
    Atomics.add(this.#i32, SEQ, 1)
    Atomics.notify(this.#i32, SEQ)
  }

  /**
   * Returns what a dead thread's slot held to the pool and frees the slot. Its statistics stay where
   * they are (layout.ts): the parked calls it leaves are added to its TIMED_OUT, its permits to its
   * RECLAIMED, so no reader ever sees a count fall or move.
   */
  #reclaim(owner: number): void {
    const i32 = this.#i32
    const f64 = this.#f64
    const slots = i32[SLOT_COUNT]!
    for (let i = 0; i < slots; i++) {
      const s = slotIndex(i)
      // The CAS makes the reclaim happen once, however many objects or threads hear of the exit.
      if (Atomics.compareExchange(i32, s + OWNER, owner, RECLAIMING) !== owner) continue
      const sf = s >> 1
      const held = i32[s + HELD]!
      const waiters = i32[s + WAITERS]!
      if (waiters !== 0) {
        f64[sf + TIMED_OUT]! += waiters
        i32[s + WAITERS] = 0
        Atomics.sub(i32, WAITING, waiters)
      }
      if (held !== 0) {
        f64[sf + RECLAIMED]! += held
        i32[s + HELD] = 0
        Atomics.add(i32, FREE, held)
        if (Atomics.load(i32, WAITING) !== 0) this.#wakeAll()
      }
      // Publishes the slot, with everything written to it, to the next thread that claims it.
      Atomics.store(i32, s + OWNER, 0)
      return
    }
  }

  static #reclaimExited(sem: Semaphore, threadId: number): void {
    sem.#reclaim(threadId + 1)
  }
}
