import type { IncomingHttpHeaders } from 'node:http'
import type { Duplex } from 'node:stream'
import type { DispatchController, DispatchHandler } from './types.js'

/**
 * Passes every callback through to the caller's handler and tells the subclass, exactly once, when the
 * request is over: after the response body ended, after an error, or after an upgrade handed the
 * socket over. The subclass's bookkeeping runs after the caller's handler (`finally`), so a throwing
 * handler cannot leak a bulkhead slot.
 */
export abstract class ForwardHandler implements DispatchHandler {
  protected readonly handler: DispatchHandler
  #settled = false

  constructor(handler: DispatchHandler) {
    this.handler = handler
  }

  /** The request is over; `error` is null on success (including an upgrade). Called once. */
  protected abstract finish(controller: DispatchController | null, error: Error | null): void

  /** A final (non-1xx) status arrived. */
  protected responded(_statusCode: number): void {}

  onRequestStart(controller: DispatchController, context: unknown): void {
    this.handler.onRequestStart?.(controller, context)
  }

  onRequestUpgrade(
    controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Duplex,
  ): void {
    this.responded(statusCode)
    try {
      this.handler.onRequestUpgrade?.(controller, statusCode, headers, socket)
    } finally {
      this.#settle(controller, null)
    }
  }

  onResponseStart(
    controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    text?: string,
  ): void {
    if (statusCode >= 200) this.responded(statusCode)
    this.handler.onResponseStart?.(controller, statusCode, headers, text)
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    this.handler.onResponseData?.(controller, chunk)
  }

  onResponseEnd(controller: DispatchController, trailers: IncomingHttpHeaders): void {
    try {
      this.handler.onResponseEnd?.(controller, trailers)
    } finally {
      this.#settle(controller, null)
    }
  }

  onResponseError(controller: DispatchController | null, error: Error): void {
    try {
      this.handler.onResponseError?.(controller as DispatchController, error)
    } finally {
      this.#settle(controller, error)
    }
  }

  onResponseStarted(): void {
    this.handler.onResponseStarted?.()
  }

  onBodySent(chunk: Buffer): void {
    this.handler.onBodySent?.(chunk)
  }

  onRequestSent(): void {
    this.handler.onRequestSent?.()
  }

  #settle(controller: DispatchController | null, error: Error | null): void {
    if (this.#settled) return
    this.#settled = true
    this.finish(controller, error)
  }
}

/**
 * Fails a request that was never dispatched, the way undici's own dispatchers do (`onResponseError`
 * with a null controller, then `false`).
 */
export function refuse(handler: DispatchHandler, error: Error): false {
  handler.onResponseError?.(null as unknown as DispatchController, error)
  return false
}
