import { InvalidOptionError, integerOption, numberOption, warnOnce } from '@beamline/core'
import { type AdaptiveConcurrency, AdaptiveLanes } from './adaptive-lane.js'
import { BulkheadRequest, DISPATCHED, DONE, PERMIT_WAIT, QUEUED } from './bulkhead-request.js'
import { refuse } from './decorator.js'
import { BulkheadFullError, QueueTimeoutError } from './errors.js'
import { type KeyedState, keyedInterceptor } from './interceptor.js'
import { KeyTable } from './key-table.js'
import { ABORTED, ADMITTED, Lane, type Outcome, QUEUED_TOTAL, REJECTED, TIMED_OUT } from './lane.js'
import type { Dispatch, DispatchHandler, DispatchOptions, Interceptor, KeyFunction } from './types.js'

export type { AdaptiveConcurrency } from './adaptive-lane.js'

/**
 * A semaphore shared across worker threads, as `@beamline/semaphore`'s `Semaphore` (or one attached
 * from its handle). Only these three methods are used; permits are released in the thread that took them.
 */
export interface SharedPermits {
  tryAcquire(permits?: number): boolean
  acquire(options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<unknown>
  release(permits?: number): void
}

/**
 * Where per-key queue lengths are published, as `@beamline/mailbox`'s `MailboxRegistry`: each key's
 * queue is observed under the name `undici:<key>` in group `undici`. If `observe` returns a function or
 * an object with `close()`, it is called when the key is evicted.
 */
export interface QueueRegistry {
  observe(name: string, sample: () => number, options: { group: string }): unknown
}

export interface BulkheadOptions {
  /**
   * Requests of one key on the wire at once (started and not yet finished: response body read to the
   * end, failed, or upgraded). Integer from 1 to 2^30. Default 50.
   *
   * `'adaptive'` (or `AdaptiveConcurrency` options) gives each key its own `@beamline/limit`
   * AdaptiveLimit instead (gradient2 by default, from 20, within [1, 1000]), driven by that key's
   * latency (request start to response end) and failures: a 5xx, a timeout or a connection error is
   * a drop and the limit backs off; an abort by the caller teaches nothing.
   */
  maxConcurrent?: number | 'adaptive' | AdaptiveConcurrency
  /**
   * Requests of one key that may wait for a slot; one more is rejected with `BulkheadFullError`
   * (`ERR_BEAMLINE_BULKHEAD_FULL`). Integer from 0 (never wait: fail fast when all slots are busy) to
   * 2^30. Default 500.
   */
  maxQueued?: number
  /**
   * Milliseconds a request may wait (for a local slot, then for a permit of `semaphore`) before it fails
   * with `QueueTimeoutError` (`ERR_BEAMLINE_QUEUE_TIMEOUT`). Greater than 0, at most 2^31 − 1 (the
   * largest timer Node keeps). Default 1000.
   */
  queueTimeoutMs?: number
  /**
   * The bulkhead each request belongs to. Default: its origin (`https://host:port`), so one slow
   * upstream cannot take the slots, queue and memory of the others. Return a few distinct strings (see
   * `maxKeys`); the result is a metric label.
   */
  key?: KeyFunction
  /**
   * Most keys tracked at once. A new key beyond it evicts the oldest idle key (nothing in flight or
   * queued; its counters are dropped, so they restart at 0 if it returns, which Prometheus reads as a
   * counter reset); if every key is busy the request is counted under the shared key `(other)`, with
   * its own limits. Integer from 1 to 2^20. Default 1000.
   */
  maxKeys?: number
  /** Publishes each key's queue length to a mailbox registry, group `undici`. Optional. */
  registry?: QueueRegistry
  /**
   * Bounds concurrency across every thread that shares it: a request needs a local slot and a permit.
   * A request holding a slot but waiting for a permit counts as queued, and its wait is bounded by the
   * same `queueTimeoutMs`. Optional.
   */
  semaphore?: SharedPermits
}

/** One key's counters. The exporter reads these; every count is since the key was first seen. */
export interface BulkheadKeyStats {
  key: string
  /** Requests on the wire now. */
  active: number
  /** Requests waiting now: for a slot, or holding one and waiting for a `semaphore` permit. */
  queued: number
  /** Requests started on the wire. */
  admitted: number
  /** Requests that ever had to wait. */
  queuedTotal: number
  /** The concurrency limit in force: `maxConcurrent`, or the key's adaptive limit now. */
  limit: number
  /** Requests rejected (`ERR_BEAMLINE_BULKHEAD_FULL`): every slot held and the queue full. */
  rejected: number
  /** Requests timed out after waiting `queueTimeoutMs` in vain (`ERR_BEAMLINE_QUEUE_TIMEOUT`). */
  timedOut: number
  /**
   * Requests timed out by the caller's abort while waiting, counted apart from `timedOut`. Requests
   * aborted on the wire finish as usual and are not counted here.
   */
  aborted: number
}

/** The interceptor, with its per-key counters. */
export type BulkheadInterceptor = Interceptor & { stats(): BulkheadKeyStats[] }

/** Admission for every key of one `bulkhead()`: its options, its lanes, and what moves requests between them. */
export class Bulkhead implements KeyedState<BulkheadKeyStats> {
  readonly #maxConcurrent: number
  readonly #adaptive: AdaptiveLanes | undefined
  readonly maxQueued: number
  readonly queueTimeoutMs: number
  readonly semaphore: SharedPermits | undefined
  readonly lanes: KeyTable<Lane>
  readonly #registry: QueueRegistry | undefined

  constructor(options: BulkheadOptions) {
    const max = options.maxConcurrent
    if (max === 'adaptive' || (typeof max === 'object' && max !== null)) {
      this.#adaptive = new AdaptiveLanes(max === 'adaptive' ? {} : max)
      this.#maxConcurrent = 0 // unused: every lane has its own limit
    } else {
      this.#adaptive = undefined
      this.#maxConcurrent = integerOption('maxConcurrent', max, 1, 2 ** 30, 50)
    }
    this.maxQueued = integerOption('maxQueued', options.maxQueued, 0, 2 ** 30, 500)
    this.queueTimeoutMs = numberOption(
      'queueTimeoutMs',
      options.queueTimeoutMs,
      { min: 0, max: 2 ** 31 - 1, exclusiveMin: true },
      1000,
    )
    const maxKeys = integerOption('maxKeys', options.maxKeys, 1, 2 ** 20, 1000)
    this.semaphore = options.semaphore
    if (this.semaphore !== undefined && typeof this.semaphore.tryAcquire !== 'function') {
      throw new InvalidOptionError(
        'semaphore',
        'must have tryAcquire, acquire and release, as @beamline/semaphore',
      )
    }
    this.#registry = options.registry
    if (this.#registry !== undefined && typeof this.#registry.observe !== 'function') {
      throw new InvalidOptionError(
        'registry',
        'must have observe(name, sample, { group }), as @beamline/mailbox',
      )
    }
    this.lanes = new KeyTable(
      maxKeys,
      (key) => this.#createLane(key),
      (lane) => lane.idle,
      (lane) => lane.unpublish?.(),
    )
  }

  dispatch(next: Dispatch, key: string, opts: DispatchOptions, handler: DispatchHandler): boolean {
    const lane = this.lanes.get(key)
    const request = new BulkheadRequest(this, lane, next, opts, handler)
    if (lane.head === null && lane.take(request)) {
      if (this.semaphore === undefined || this.semaphore.tryAcquire()) {
        request.hasPermit = this.semaphore !== undefined
        return this.#send(request, true)
      }
      request.startWaiting()
      if (request.controller!.aborted) {
        lane.give(request, 'ignore')
        lane.counts[ABORTED]!++
        request.fail(request.controller!.reason!)
      } else {
        this.#waitForPermit(request)
      }
      return true
    }
    if (lane.waiting >= this.maxQueued) {
      lane.counts[REJECTED]!++
      return refuse(handler, new BulkheadFullError(lane.key, lane.limit, this.maxQueued))
    }
    // Linked before the handler hears of it, so an abort from inside onRequestStart finds it queued.
    request.state = QUEUED
    lane.link(request)
    request.startWaiting()
    if (request.state === QUEUED && lane.timer === null) this.#arm(lane)
    return true
  }

  /** `request` left the wire, or gave up its slot before reaching it. */
  free(request: BulkheadRequest, outcome: Outcome): void {
    const lane = request.lane
    lane.give(request, outcome)
    if (request.hasPermit) this.semaphore!.release()
    this.drain(lane)
  }

  /** Starts waiting requests while the lane has free slots. Re-entrant calls leave the work to the outer loop. */
  drain(lane: Lane): void {
    if (lane.draining) return
    lane.draining = true
    try {
      while (lane.head !== null && lane.take(lane.head)) {
        const request = lane.head
        lane.unlink(request)
        if (this.semaphore === undefined || this.semaphore.tryAcquire()) {
          request.hasPermit = this.semaphore !== undefined
          this.#send(request, false)
        } else {
          this.#waitForPermit(request)
        }
      }
      if (lane.head === null && lane.timer !== null) {
        clearTimeout(lane.timer)
        lane.timer = null
      }
    } finally {
      lane.draining = false
    }
  }

  stats(): BulkheadKeyStats[] {
    return this.lanes.entries().map((lane) => ({
      key: lane.key,
      active: lane.active,
      queued: lane.waiting + lane.permitWaiting,
      limit: lane.limit,
      admitted: lane.counts[ADMITTED]!,
      queuedTotal: lane.counts[QUEUED_TOTAL]!,
      rejected: lane.counts[REJECTED]!,
      timedOut: lane.counts[TIMED_OUT]!,
      aborted: lane.counts[ABORTED]!,
    }))
  }

  #send(request: BulkheadRequest, direct: boolean): boolean {
    const lane = request.lane
    request.state = DISPATCHED
    lane.active++
    lane.counts[ADMITTED]!++
    try {
      return request.next(request.opts, request)
    } catch (err) {
      // The next dispatcher threw instead of calling onResponseError: give the slot back ourselves.
      if (request.state === DISPATCHED) {
        request.state = DONE
        lane.active--
        this.free(request, 'ignore')
      }
      if (direct) throw err
      request.fail(err as Error)
      return false
    }
  }

  #waitForPermit(request: BulkheadRequest): void {
    const lane = request.lane
    request.state = PERMIT_WAIT
    lane.permitWaiting++
    const ac = new AbortController()
    request.permitAbort = ac
    const timeoutMs = Math.max(0, Math.ceil(request.deadline - performance.now()))
    this.semaphore!.acquire({ signal: ac.signal, timeoutMs }).then(
      () => {
        if (request.state !== PERMIT_WAIT) {
          this.semaphore!.release() // aborted as the permit came
          return
        }
        lane.permitWaiting--
        request.hasPermit = true
        this.#send(request, false)
      },
      (err: Error & { code?: string }) => {
        if (request.state !== PERMIT_WAIT) return // aborted: cancel() already accounted for it
        lane.permitWaiting--
        lane.give(request, 'ignore')
        if (err?.code === 'ERR_BEAMLINE_SEMAPHORE_TIMEOUT') {
          lane.counts[TIMED_OUT]!++
          request.fail(new QueueTimeoutError(lane.key, this.queueTimeoutMs, { cause: err }))
        } else {
          lane.counts[REJECTED]!++
          request.fail(new BulkheadFullError(lane.key, lane.limit, this.maxQueued, { cause: err }))
        }
        this.drain(lane)
      },
    )
  }

  #arm(lane: Lane): void {
    const delay = Math.max(1, Math.ceil(lane.head!.deadline - performance.now()))
    lane.timer = setTimeout(() => this.#expire(lane), delay)
  }

  #expire(lane: Lane): void {
    lane.timer = null
    const now = performance.now()
    while (lane.head !== null && lane.head.deadline <= now) {
      const request = lane.head
      lane.unlink(request)
      lane.counts[TIMED_OUT]!++
      request.fail(new QueueTimeoutError(lane.key, this.queueTimeoutMs))
    }
    if (lane.head !== null) this.#arm(lane)
  }

  #createLane(key: string): Lane {
    const lane = this.#adaptive?.create(key) ?? new Lane(key, this.#maxConcurrent)
    if (this.#registry !== undefined) {
      try {
        const handle = this.#registry.observe(`undici:${key}`, () => lane.waiting + lane.permitWaiting, {
          group: 'undici',
        })
        if (typeof handle === 'function') lane.unpublish = handle as () => void
        else if (typeof (handle as { close?: unknown })?.close === 'function')
          lane.unpublish = () => (handle as { close(): void }).close()
      } catch (err) {
        warnOnce(
          'undici:registry',
          `@beamline/undici: cannot publish the queue of ${JSON.stringify(key)} to the registry`,
          err,
        )
      }
    }
    return lane
  }
}

/**
 * A per-key (by default per-origin) bulkhead for undici: at most `maxConcurrent` requests on the wire
 * and `maxQueued` waiting, each waiting at most `queueTimeoutMs`. A request beyond that is rejected with
 * `BulkheadFullError` before any socket is touched, so one slow upstream cannot take the sockets,
 * memory and latency budget of the others.
 *
 * ```ts
 * const agent = new Agent().compose(bulkhead({ maxConcurrent: 50, maxQueued: 500, queueTimeoutMs: 1_000 }))
 * ```
 */
export function bulkhead(options: BulkheadOptions = {}): BulkheadInterceptor {
  return keyedInterceptor(options.key, new Bulkhead(options))
}
