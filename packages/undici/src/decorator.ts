import type { IncomingHttpHeaders } from 'node:http'
import type { Duplex } from 'node:stream'
import { DecoratorHandler } from 'undici'
import type { DispatchController, DispatchHandler } from './types.js'

/**
 * The callbacks undici's `DecoratorHandler` forwards to the handler it wraps (7.1+ and 8). Its type
 * declaration names only the constructor, so a subclass could not call `super.onResponseEnd(…)`.
 */
interface Forwarding {
  onRequestStart(controller: DispatchController, context: unknown): void
  onRequestUpgrade(
    controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Duplex,
  ): void
  onResponseStart(
    controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void
  onResponseData(controller: DispatchController, chunk: Buffer): void
  onResponseEnd(controller: DispatchController, trailers: IncomingHttpHeaders): void
  onResponseError(controller: DispatchController, error: Error): void
}

const UndiciDecorator: new (handler: DispatchHandler) => Forwarding = DecoratorHandler as new (
  handler: DispatchHandler,
) => Forwarding

/**
 * undici's own handler base, as its `dump` and `circuit-breaker` interceptors use it (it asserts the
 * callback order: nothing after the end or an error), plus the three callbacks it does not forward
 * in every supported version: `onResponseStarted` (fetch's response timing; no version forwards it),
 * `onBodySent` and `onRequestSent` (undici 7 drops them); and `responded`, the one hook both our
 * interceptors need.
 */
export class Decorator extends UndiciDecorator {
  readonly #handler: DispatchHandler

  constructor(handler: DispatchHandler) {
    super(handler)
    this.#handler = handler
  }

  /** A final (non-1xx) status arrived, or an upgrade's; before the caller's handler hears of it. */
  protected responded(_statusCode: number): void {}

  override onResponseStart(
    controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (statusCode >= 200) this.responded(statusCode)
    super.onResponseStart(controller, statusCode, headers, statusMessage)
  }

  override onRequestUpgrade(
    controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Duplex,
  ): void {
    this.responded(statusCode)
    super.onRequestUpgrade(controller, statusCode, headers, socket)
  }

  onResponseStarted(): void {
    this.#handler.onResponseStarted?.()
  }

  onBodySent(chunk: Buffer): void {
    this.#handler.onBodySent?.(chunk)
  }

  onRequestSent(): void {
    this.#handler.onRequestSent?.()
  }
}

/** What undici calls on a request that never started: `onResponseError` with a null controller (its types omit the null). */
interface Refusable {
  onResponseError?(controller: DispatchController | null, error: Error): void
}

/**
 * Fails a request that was never dispatched as undici's own interceptors do (`circuit-breaker`): the
 * error reaches the handler in a microtask, after `dispatch` returned `true`, so a caller never hears
 * of its request's end from inside its own `dispatch` call.
 */
export function refuse(handler: Refusable, error: Error): true {
  queueMicrotask(() => handler.onResponseError?.(null, error))
  return true
}
