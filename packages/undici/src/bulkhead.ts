import { InvalidOptionError, integerOption, numberOption, warnOnce } from '@beamline/core'
import { AdaptiveLimit, type AdaptiveLimitOptions, type Token } from '@beamline/limit'
import { BulkheadFullError, QueueTimeoutError } from './errors.js'
import { ForwardHandler, refuse } from './forward-handler.js'
import { keyedInterceptor } from './interceptor.js'
import { KeyTable } from './key-table.js'
import { currentApi } from './legacy-handler.js'
import type {
  Dispatch,
  DispatchController,
  DispatchHandler,
  DispatchOptions,
  Interceptor,
  KeyFunction,
} from './types.js'

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

/**
 * `@beamline/limit`'s options for each key's adaptive limit, without `name` (each key's limit is
 * named `undici:<key>`), `queue` (the bulkhead's own queue applies: `maxQueued`, `queueTimeoutMs`)
 * and `maxThreads` (a key's limit lives in this thread).
 */
export type AdaptiveConcurrency = Omit<AdaptiveLimitOptions, 'name' | 'queue' | 'maxThreads' | 'partitions'>

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
   * Requests of one key that may wait for a slot; one more fails at once with `BulkheadFullError`
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
   * counter reset); if every key is busy the request is counted under the shared key `(overflow)`, with
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
  /** Requests refused with `ERR_BEAMLINE_BULKHEAD_FULL`. */
  rejected: number
  /** Requests that waited `queueTimeoutMs` in vain (`ERR_BEAMLINE_QUEUE_TIMEOUT`). */
  timedOut: number
  /** Requests aborted while waiting. Requests aborted on the wire finish as usual and are not counted here. */
  aborted: number
}

/** The interceptor, with its per-key counters. */
export type BulkheadInterceptor = Interceptor & { stats(): BulkheadKeyStats[] }

// Counter indexes in Lane.counts.
const ADMITTED = 0
const QUEUED_TOTAL = 1
const REJECTED = 2
const TIMED_OUT = 3
const ABORTED = 4

// Request states.
const NEW = 0
const QUEUED = 1 // in the lane's list, waiting for a local slot
const PERMIT_WAIT = 2 // holds a local slot, waiting for a semaphore permit
const DISPATCHED = 3 // handed to the next dispatcher, holds a slot (and a permit with a semaphore)
const DONE = 4 // finished, refused, timed out or aborted: holds nothing

/** One key's bulkhead: slot counts, the FIFO of waiting requests, and counters. */
class Lane {
  readonly key: string
  /** Local slots taken: on the wire plus waiting for a semaphore permit. Never above the lane's limit. */
  held = 0
  /** The key's adaptive limit, when maxConcurrent is adaptive; its tokens are the slots. */
  limit: AdaptiveLimit | undefined
  active = 0
  waiting = 0
  permitWaiting = 0
  head: BulkheadRequest | null = null
  tail: BulkheadRequest | null = null
  /** One timer per lane, armed for the head's deadline: FIFO with one timeout means the head expires first. */
  timer: NodeJS.Timeout | null = null
  readonly counts = new Float64Array(5)
  unpublish: (() => void) | null = null
  /** drain() is running for this lane: a nested call (a request failing synchronously) leaves it the work. */
  draining = false

  constructor(key: string) {
    this.key = key
  }
}

const abortError = () => new DOMException('This operation was aborted', 'AbortError')

/**
 * What a queued request's handler holds as its controller before the request reaches the wire. undici
 * delivers aborts (a `signal`, fetch's AbortController, a destroyed stream) through the controller
 * given to `onRequestStart`, so a waiting request must have been started with this one to hear of an
 * abort at once. Once the real request starts it forwards to the real controller.
 */
class WaitingController implements DispatchController {
  readonly #request: BulkheadRequest
  #real: DispatchController | null = null
  #aborted = false
  #paused = false
  #reason: Error | null = null

  constructor(request: BulkheadRequest) {
    this.#request = request
  }

  get aborted(): boolean {
    return this.#real?.aborted ?? this.#aborted
  }

  get paused(): boolean {
    return this.#real?.paused ?? this.#paused
  }

  get reason(): Error | null {
    return this.#real?.reason ?? this.#reason
  }

  get rawHeaders(): DispatchController['rawHeaders'] {
    return this.#real?.rawHeaders
  }

  get rawTrailers(): DispatchController['rawTrailers'] {
    return this.#real?.rawTrailers
  }

  abort(reason?: Error): void {
    if (this.#real !== null) {
      this.#real.abort(reason as Error)
      return
    }
    if (this.#aborted) return
    this.#aborted = true
    this.#reason = reason ?? abortError()
    this.#request.cancel(this.#reason)
  }

  pause(): void {
    this.#paused = true
    this.#real?.pause()
  }

  resume(): void {
    this.#paused = false
    this.#real?.resume()
  }

  /** The request started on the wire: apply what happened while it waited, then forward. */
  bind(real: DispatchController): void {
    this.#real = real
    if (this.#aborted) real.abort(this.#reason!)
    else if (this.#paused) real.pause()
  }
}

class BulkheadRequest extends ForwardHandler {
  readonly owner: Bulkhead
  readonly lane: Lane
  /** The dispatch this request came through; a waiting one is sent there when a slot frees. */
  readonly next: Dispatch
  readonly opts: DispatchOptions
  state = NEW
  /** Neighbours in the lane's FIFO while QUEUED. */
  before: BulkheadRequest | null = null
  after: BulkheadRequest | null = null
  /** performance.now() after which waiting fails; set when the request starts waiting. */
  deadline = 0
  hasPermit = false
  /** The lane's adaptive-limit token while this request holds a slot (adaptive lanes only). */
  token: Token | undefined
  /** The final status, for the token's outcome. */
  status = 0
  controller: WaitingController | null = null
  permitAbort: AbortController | null = null

  constructor(owner: Bulkhead, lane: Lane, next: Dispatch, opts: DispatchOptions, handler: DispatchHandler) {
    super(handler)
    this.owner = owner
    this.lane = lane
    this.next = next
    this.opts = opts
  }

  /** Gives the caller's handler its controller now, so an abort while waiting reaches us. */
  startWaiting(): void {
    this.deadline = performance.now() + this.owner.queueTimeoutMs
    this.lane.counts[QUEUED_TOTAL]!++
    this.controller = new WaitingController(this)
    this.handler.onRequestStart?.(this.controller, null)
  }

  override onRequestStart(controller: DispatchController, context: unknown): void {
    // A request that waited already gave its handler the WaitingController; it must not start twice.
    if (this.controller !== null) this.controller.bind(controller)
    else this.handler.onRequestStart?.(controller, context)
  }

  protected override responded(statusCode: number): void {
    this.status = statusCode
  }

  protected override finish(_controller: unknown, error: Error | null): void {
    this.state = DONE
    this.lane.active--
    if (error !== null) this.endToken(isAbort(error) ? 'ignore' : 'dropped')
    else this.endToken(this.status >= 500 ? 'dropped' : 'success')
    this.owner.free(this.lane, this.hasPermit)
  }

  /** Ends the adaptive token: a 5xx, a timeout or a connection error is a drop; the caller's abort teaches nothing. */
  endToken(outcome: 'success' | 'dropped' | 'ignore'): void {
    const token = this.token
    if (token === undefined) return
    this.token = undefined
    if (outcome === 'success') token.success()
    else if (outcome === 'dropped') token.dropped()
    else token.ignore()
  }

  /** Fails a request that never reached the wire, through the controller its handler already holds. */
  fail(error: Error): void {
    this.state = DONE
    this.handler.onResponseError?.(this.controller!, error)
  }

  /** An abort through the WaitingController before the request reached the wire. */
  cancel(reason: Error): void {
    const lane = this.lane
    if (this.state === QUEUED) {
      this.owner.unlink(lane, this)
    } else if (this.state === PERMIT_WAIT) {
      // The pending acquire() rejects with the signal's reason; its handler sees DONE and ignores it.
      this.permitAbort!.abort(reason)
      lane.permitWaiting--
      lane.held--
      this.endToken('ignore')
    } else {
      return // DISPATCHED: bind() aborts the real request as soon as it starts
    }
    lane.counts[ABORTED]!++
    this.fail(reason)
    this.owner.drain(lane)
  }
}

const isAbort = (error: Error) =>
  error.name === 'AbortError' || (error as { code?: unknown }).code === 'UND_ERR_ABORTED'

/** Longest limit name @beamline/limit takes, in UTF-8 bytes. */
const MAX_NAME_BYTES = 200

class Bulkhead {
  readonly maxConcurrent: number
  readonly #adaptive: AdaptiveConcurrency | undefined
  readonly maxQueued: number
  readonly queueTimeoutMs: number
  readonly semaphore: SharedPermits | undefined
  readonly lanes: KeyTable<Lane>
  readonly #registry: QueueRegistry | undefined

  constructor(options: BulkheadOptions) {
    const max = options.maxConcurrent
    if (max === 'adaptive' || (typeof max === 'object' && max !== null)) {
      this.#adaptive = max === 'adaptive' ? {} : max
      // Validated once, here, rather than at the first request of each key.
      try {
        this.maxConcurrent = new AdaptiveLimit(this.#limitOptions('validation')).stats().maxLimit
      } catch (err) {
        if (!(err instanceof InvalidOptionError)) throw err
        const option = err.option === 'options' ? 'maxConcurrent' : `maxConcurrent.${err.option}`
        throw new InvalidOptionError(option, err.message.slice(err.option.length + 2))
      }
    } else {
      this.#adaptive = undefined
      this.maxConcurrent = integerOption('maxConcurrent', max, 1, 2 ** 30, 50)
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
      (lane) => lane.held === 0 && lane.waiting === 0,
      (lane) => lane.unpublish?.(),
    )
  }

  #limitOptions(key: string): AdaptiveLimitOptions {
    let name = `undici:${key}`
    while (Buffer.byteLength(name) > MAX_NAME_BYTES) name = name.slice(0, -1)
    return { ...this.#adaptive, name, queue: false, maxThreads: 1 }
  }

  /** Takes a slot of the lane for `request`: a token of its adaptive limit, or one of maxConcurrent. */
  #take(lane: Lane, request: BulkheadRequest): boolean {
    if (lane.limit !== undefined) {
      const token = lane.limit.tryAcquire()
      if (token === undefined) return false
      request.token = token
    } else if (lane.held >= this.maxConcurrent) return false
    lane.held++
    return true
  }

  dispatch(next: Dispatch, key: string, opts: DispatchOptions, handler: DispatchHandler): boolean {
    const lane = this.lanes.get(key)
    const request = new BulkheadRequest(this, lane, next, opts, currentApi(handler))
    if (lane.head === null && this.#take(lane, request)) {
      if (this.semaphore === undefined || this.semaphore.tryAcquire()) {
        request.hasPermit = this.semaphore !== undefined
        return this.#send(request, true)
      }
      request.startWaiting()
      if (request.controller!.aborted) {
        lane.held--
        request.endToken('ignore')
        lane.counts[ABORTED]!++
        request.fail(request.controller!.reason!)
      } else {
        this.#waitForPermit(request)
      }
      return true
    }
    if (lane.waiting >= this.maxQueued) {
      lane.counts[REJECTED]!++
      return refuse(currentApi(handler), new BulkheadFullError(lane.key, this.#limitOf(lane), this.maxQueued))
    }
    // Linked before the handler hears of it, so an abort from inside onRequestStart finds it queued.
    request.state = QUEUED
    this.#link(lane, request)
    request.startWaiting()
    if (request.state === QUEUED && lane.timer === null) this.#arm(lane)
    return true
  }

  /** A request left the wire, or gave up its slot before reaching it. */
  free(lane: Lane, hadPermit: boolean): void {
    if (hadPermit) this.semaphore!.release()
    lane.held--
    this.drain(lane)
  }

  /** Starts waiting requests while the lane has free slots. Re-entrant calls leave the work to the outer loop. */
  drain(lane: Lane): void {
    if (lane.draining) return
    lane.draining = true
    try {
      while (lane.head !== null && this.#take(lane, lane.head)) {
        const request = lane.head
        this.unlink(lane, request)
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

  unlink(lane: Lane, request: BulkheadRequest): void {
    if (request.before === null) lane.head = request.after
    else request.before.after = request.after
    if (request.after === null) lane.tail = request.before
    else request.after.before = request.before
    request.before = request.after = null
    lane.waiting--
    request.state = NEW
  }

  stats(): BulkheadKeyStats[] {
    return this.lanes.entries().map((lane) => ({
      key: lane.key,
      active: lane.active,
      queued: lane.waiting + lane.permitWaiting,
      limit: this.#limitOf(lane),
      admitted: lane.counts[ADMITTED]!,
      queuedTotal: lane.counts[QUEUED_TOTAL]!,
      rejected: lane.counts[REJECTED]!,
      timedOut: lane.counts[TIMED_OUT]!,
      aborted: lane.counts[ABORTED]!,
    }))
  }

  #limitOf(lane: Lane): number {
    return lane.limit?.limit ?? this.maxConcurrent
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
        request.endToken('ignore')
        this.free(lane, request.hasPermit)
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
        lane.held--
        request.endToken('ignore')
        if (err?.code === 'ERR_BEAMLINE_SEMAPHORE_TIMEOUT') {
          lane.counts[TIMED_OUT]!++
          request.fail(new QueueTimeoutError(lane.key, this.queueTimeoutMs, { cause: err }))
        } else {
          lane.counts[REJECTED]!++
          request.fail(new BulkheadFullError(lane.key, this.#limitOf(lane), this.maxQueued, { cause: err }))
        }
        this.drain(lane)
      },
    )
  }

  #link(lane: Lane, request: BulkheadRequest): void {
    request.before = lane.tail
    if (lane.tail === null) lane.head = request
    else lane.tail.after = request
    lane.tail = request
    lane.waiting++
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
      this.unlink(lane, request)
      lane.counts[TIMED_OUT]!++
      request.fail(new QueueTimeoutError(lane.key, this.queueTimeoutMs))
    }
    if (lane.head !== null) this.#arm(lane)
  }

  #createLane(key: string): Lane {
    const lane = new Lane(key)
    if (this.#adaptive !== undefined) lane.limit = new AdaptiveLimit(this.#limitOptions(key))
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
 * and `maxQueued` waiting, each waiting at most `queueTimeoutMs`. A request beyond that is refused with
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
