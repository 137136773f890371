import type { IncomingHttpHeaders } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Token } from '@beamline/limit'
import type { Bulkhead } from './bulkhead.js'
import { Decorator } from './decorator.js'
import { ABORTED, type Lane, type Outcome, QUEUED_TOTAL } from './lane.js'
import type { Dispatch, DispatchController, DispatchHandler, DispatchOptions } from './types.js'
import { WaitingController } from './waiting-controller.js'

// Request states.
export const NEW = 0
export const QUEUED = 1 // in the lane's FIFO, waiting for a slot
export const PERMIT_WAIT = 2 // holds a slot, waiting for a semaphore permit
export const DISPATCHED = 3 // handed to the next dispatcher, holds a slot (and a permit with a semaphore)
export const DONE = 4 // finished, rejected, timed out or aborted: holds nothing

const isAbort = (error: Error) =>
  error.name === 'AbortError' || (error as { code?: unknown }).code === 'UND_ERR_ABORTED'

/**
 * One request through the bulkhead, and the handler the next dispatcher calls back. Its slot (and
 * permit) is given back exactly once, when the request is over: after the response body ended, an
 * error, or an upgrade handed the socket over. That bookkeeping runs after the caller's handler
 * (`finally`), so a throwing handler cannot leak a slot.
 */
export class BulkheadRequest extends Decorator {
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
  /** The final status, for the outcome an adaptive limit learns. */
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
    super.onRequestStart(this.controller, null)
  }

  override onRequestStart(controller: DispatchController, context: unknown): void {
    // A request that waited already gave its handler the WaitingController; it must not start twice.
    if (this.controller !== null) this.controller.bind(controller)
    else super.onRequestStart(controller, context)
  }

  protected override responded(statusCode: number): void {
    this.status = statusCode
  }

  override onRequestUpgrade(
    controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Duplex,
  ): void {
    try {
      super.onRequestUpgrade(controller, statusCode, headers, socket)
    } finally {
      this.#finish(null)
    }
  }

  override onResponseEnd(controller: DispatchController, trailers: IncomingHttpHeaders): void {
    try {
      super.onResponseEnd(controller, trailers)
    } finally {
      this.#finish(null)
    }
  }

  override onResponseError(controller: DispatchController, error: Error): void {
    try {
      super.onResponseError(controller, error)
    } finally {
      this.#finish(error)
    }
  }

  /** The request left the wire; `error` is null on success (including an upgrade). */
  #finish(error: Error | null): void {
    if (this.state !== DISPATCHED) return
    this.state = DONE
    this.lane.active--
    // A 5xx, a timeout or a connection error is a drop; the caller's abort teaches nothing.
    let outcome: Outcome
    if (error !== null) outcome = isAbort(error) ? 'ignore' : 'dropped'
    else outcome = this.status >= 500 ? 'dropped' : 'success'
    this.owner.free(this, outcome)
  }

  /** Fails a request that never reached the wire, through the controller its handler already holds. */
  fail(error: Error): void {
    this.state = DONE
    super.onResponseError(this.controller!, error)
  }

  /** An abort through the WaitingController before the request reached the wire. */
  cancel(reason: Error): void {
    const lane = this.lane
    if (this.state === QUEUED) {
      lane.unlink(this)
    } else if (this.state === PERMIT_WAIT) {
      // The pending acquire() rejects with the signal's reason; its handler sees DONE and ignores it.
      this.permitAbort!.abort(reason)
      lane.permitWaiting--
      lane.give(this, 'ignore')
    } else {
      return // NEW: dispatch() sees the abort; DISPATCHED: bind() aborts the real request as it starts
    }
    lane.counts[ABORTED]!++
    this.fail(reason)
    this.owner.drain(lane)
  }
}
