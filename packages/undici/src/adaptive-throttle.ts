import { integerOption, numberOption } from '@beamline/core'
import { Decorator, refuse } from './decorator.js'
import { ThrottledError } from './errors.js'
import { type KeyedState, keyedInterceptor } from './interceptor.js'
import { KeyTable } from './key-table.js'
import type {
  Dispatch,
  DispatchController,
  DispatchHandler,
  DispatchOptions,
  Interceptor,
  KeyFunction,
} from './types.js'

export interface AdaptiveThrottleOptions {
  /**
   * How many requests the client may send per request the backend accepts before it starts refusing
   * locally: the rejection probability is max(0, (requests − k·accepts) / (requests + 1)). Lower is more
   * aggressive; 2 is the Google SRE book's choice, which wastes at most one backend rejection per
   * accept. Finite number ≥ 1. Default 2.
   */
  k?: number
  /** Milliseconds of history the counts cover, sliding in `bucketMs` steps. Greater than 0. Default 120 000 (2 min). */
  windowMs?: number
  /**
   * Width of one step of the sliding window, in ms: counts older than the window leave it one bucket at a
   * time. Greater than 0 and at most `windowMs`; `windowMs / bucketMs` must not exceed 10 000. Default
   * 1000, or `windowMs` when that is shorter.
   */
  bucketMs?: number
  /** Which requests share one window. Default: the origin. */
  key?: KeyFunction
  /**
   * Most keys tracked at once. A new key beyond it evicts the oldest key with nothing in its window; if
   * every key has recent traffic, it is counted under the shared key `(other)`. Integer from 1 to
   * 2^20. Default 1000.
   */
  maxKeys?: number
}

/** One key's window. The exporter reads these. */
export interface ThrottleKeyStats {
  key: string
  /**
   * Requests in the window whose outcome is known, including those refused locally (as the SRE formula
   * counts them). Requests aborted by the client or refused by a local interceptor are not counted.
   */
  requests: number
  /** Requests in the window the backend accepted: a response that is neither 5xx nor 429. */
  accepts: number
  /** The rejection probability a request arriving now would face, in [0, 1). */
  probability: number
  /** Requests refused locally with `ERR_BEAMLINE_THROTTLED`, since the key was first seen. */
  throttled: number
  /**
   * Requests whose outcome became known since the key was first seen (what `requests` counts, never
   * leaving): a counter, where `requests` and `accepts` are window gauges that fall as the window slides.
   */
  requestsTotal: number
  /** Requests the backend accepted since the key was first seen. */
  acceptsTotal: number
}

export type AdaptiveThrottleInterceptor = Interceptor & { stats(): ThrottleKeyStats[] }

/** Errors that mean the request never reached the backend: neither an accept nor a rejection by it. */
const LOCAL_REFUSALS = new Set([
  'ERR_BEAMLINE_BULKHEAD_FULL',
  'ERR_BEAMLINE_QUEUE_TIMEOUT',
  'ERR_BEAMLINE_THROTTLED',
])

/**
 * Requests and accepts of one key in a ring of `buckets` buckets, counts interleaved
 * [requests₀, accepts₀, requests₁, …] in one Float64Array. `epoch` is the bucket number
 * (⌊now / bucketMs⌋) of the newest bucket; running sums avoid re-adding the ring on every request.
 */
class Window {
  readonly key: string
  readonly counts: Float64Array
  epoch = 0
  requests = 0
  accepts = 0
  throttled = 0
  requestsTotal = 0
  acceptsTotal = 0

  constructor(key: string, buckets: number, epoch: number) {
    this.key = key
    this.counts = new Float64Array(buckets * 2)
    this.epoch = epoch
  }
}

/** One request's handler: counts its outcome in the window, once, as soon as it is known. */
class ThrottleRequest extends Decorator {
  readonly #throttle: Throttle
  readonly #window: Window
  /** The bucket of the moment the request was sent: its outcome is counted there. */
  readonly #epoch: number
  #counted = false

  constructor(throttle: Throttle, window: Window, epoch: number, handler: DispatchHandler) {
    super(handler)
    this.#throttle = throttle
    this.#window = window
    this.#epoch = epoch
  }

  protected override responded(statusCode: number): void {
    this.#count(statusCode < 500 && statusCode !== 429 ? 1 : 0)
  }

  override onResponseError(controller: DispatchController, error: Error): void {
    try {
      super.onResponseError(controller, error)
    } finally {
      // Aborted by the client (the controller says so) or refused by a local interceptor: the backend
      // never had its say, so the request is not counted. Anything else (refused connection, reset,
      // timeout) is a failure of the backend. undici passes a null controller when nothing started.
      const code = (error as { code?: unknown }).code
      if (!(controller?.aborted === true || (typeof code === 'string' && LOCAL_REFUSALS.has(code))))
        this.#count(0)
    }
  }

  #count(accepted: 0 | 1): void {
    if (this.#counted) return
    this.#counted = true
    this.#throttle.count(this.#window, this.#epoch, accepted)
  }
}

class Throttle implements KeyedState<ThrottleKeyStats> {
  readonly k: number
  readonly bucketMs: number
  readonly buckets: number
  readonly windows: KeyTable<Window>

  constructor(options: AdaptiveThrottleOptions) {
    this.k = numberOption('k', options.k, { min: 1 }, 2)
    const windowMs = numberOption('windowMs', options.windowMs, { min: 0, exclusiveMin: true }, 120_000)
    this.bucketMs = numberOption(
      'bucketMs',
      options.bucketMs,
      { min: windowMs / 10_000, max: windowMs },
      // 1 s steps, longer for windows over 10 000 s, so a window never holds more than 10 000 buckets.
      Math.max(Math.min(1000, windowMs), windowMs / 10_000),
    )
    this.buckets = Math.ceil(windowMs / this.bucketMs)
    const maxKeys = integerOption('maxKeys', options.maxKeys, 1, 2 ** 20, 1000)
    this.windows = new KeyTable(
      maxKeys,
      (key) => new Window(key, this.buckets, this.#now()),
      (window) => {
        this.#advance(window, this.#now())
        return window.requests === 0
      },
      () => {},
    )
  }

  dispatch(next: Dispatch, key: string, opts: DispatchOptions, handler: DispatchHandler): boolean {
    const window = this.windows.get(key)
    const epoch = this.#now()
    this.#advance(window, epoch)
    const p = this.#probability(window)
    if (p > 0 && Math.random() < p) {
      window.throttled++
      this.count(window, epoch, 0)
      return refuse(handler, new ThrottledError(window.key, p))
    }
    return next(opts, new ThrottleRequest(this, window, epoch, handler))
  }

  /**
   * Counts one request whose outcome is known: refused locally, or answered (`accepted` 1) or failed
   * by the backend. It lands in the bucket of the moment it was sent (`epoch`), unless that bucket has
   * left the window meanwhile; this costs no clock read. Requests still in flight are not counted yet,
   * so a burst of concurrent requests from a cold start is not refused for want of accepts that are on
   * their way.
   */
  count(window: Window, epoch: number, accepted: 0 | 1): void {
    window.requestsTotal++
    window.acceptsTotal += accepted
    // The window may lag the clock here (it advances on the next request); buckets it still holds
    // that the clock has passed are emptied then, with this count in them, as they should be.
    if (epoch <= window.epoch - this.buckets) return
    const i = (epoch % this.buckets) * 2
    window.counts[i]!++
    window.counts[i + 1]! += accepted
    window.requests++
    window.accepts += accepted
  }

  stats(): ThrottleKeyStats[] {
    const now = this.#now()
    return this.windows.entries().map((window) => {
      this.#advance(window, now)
      return {
        key: window.key,
        requests: window.requests,
        accepts: window.accepts,
        probability: this.#probability(window),
        throttled: window.throttled,
        requestsTotal: window.requestsTotal,
        acceptsTotal: window.acceptsTotal,
      }
    })
  }

  #now(): number {
    return Math.floor(performance.now() / this.bucketMs)
  }

  #probability(window: Window): number {
    return Math.max(0, (window.requests - this.k * window.accepts) / (window.requests + 1))
  }

  /** Empties the buckets that slid out of the window since its last use. */
  #advance(window: Window, epoch: number): void {
    const steps = Math.min(epoch - window.epoch, this.buckets)
    if (steps <= 0) return
    const counts = window.counts
    for (let s = 1; s <= steps; s++) {
      const i = ((window.epoch + s) % this.buckets) * 2
      window.requests -= counts[i]!
      window.accepts -= counts[i + 1]!
      counts[i] = counts[i + 1] = 0
    }
    window.epoch = epoch
  }
}

/**
 * Client-side adaptive throttling (Google SRE book, "Handling Overload"): while the backend rejects
 * many requests (5xx, 429, connection failures), refuse a share of new ones locally with
 * `ThrottledError` instead of adding load it will only reject. Compose it outside the bulkhead
 * (after it in `compose`'s list) so that local bulkhead refusals are not mistaken for backend ones.
 *
 * ```ts
 * const agent = new Agent().compose(bulkhead(), adaptiveThrottle({ k: 2, windowMs: 120_000 }))
 * ```
 */
export function adaptiveThrottle(options: AdaptiveThrottleOptions = {}): AdaptiveThrottleInterceptor {
  return keyedInterceptor(options.key, new Throttle(options))
}
