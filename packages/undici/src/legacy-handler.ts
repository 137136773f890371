import type { IncomingHttpHeaders } from 'node:http'
import type { Duplex } from 'node:stream'
import type { DispatchController, DispatchHandler } from './types.js'

/** undici's handler API before v7 (`onConnect`, `onHeaders`, `onData`, `onComplete`, `onError`, `onUpgrade`). */
export interface LegacyDispatchHandler {
  onConnect?(abort: (reason?: Error) => void, context?: unknown): void
  onHeaders?(
    statusCode: number,
    rawHeaders: Buffer[],
    resume: () => void,
    statusText?: string,
  ): boolean | undefined
  onData?(chunk: Buffer): boolean | undefined
  onComplete?(rawTrailers: Buffer[] | null): void
  onError?(err: Error): void
  onUpgrade?(statusCode: number, rawHeaders: Buffer[], socket: Duplex): void
  onResponseStarted?(): void
  onBodySent?(chunk: Buffer): void
}

function rawHeaders(
  controller: DispatchController | null,
  parsed: IncomingHttpHeaders,
  trailers = false,
): Buffer[] {
  const raw = trailers ? controller?.rawTrailers : controller?.rawHeaders
  if (Array.isArray(raw) && (raw.length === 0 || Buffer.isBuffer(raw[0]))) return raw as Buffer[]
  const out: Buffer[] = []
  for (const [name, value] of Object.entries(parsed)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value])
      out.push(Buffer.from(name, 'latin1'), Buffer.from(v, 'latin1'))
  }
  return out
}

/**
 * Presents a legacy handler through the current API. undici 7's `compose` already wraps legacy handlers
 * before an interceptor sees them and undici 8 accepts only the current API, so this serves callers that
 * invoke the interceptor's dispatch directly with an old-style handler.
 */
class LegacyHandler implements DispatchHandler {
  readonly #h: LegacyDispatchHandler

  constructor(handler: LegacyDispatchHandler) {
    this.#h = handler
  }

  onRequestStart(controller: DispatchController, context: unknown): void {
    this.#h.onConnect?.((reason) => controller.abort(reason as Error), context)
  }

  onRequestUpgrade(
    controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Duplex,
  ): void {
    this.#h.onUpgrade?.(statusCode, rawHeaders(controller, headers), socket)
  }

  onResponseStart(
    controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    text?: string,
  ): void {
    if (
      this.#h.onHeaders?.(statusCode, rawHeaders(controller, headers), () => controller.resume(), text) ===
      false
    ) {
      controller.pause()
    }
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    if (this.#h.onData?.(chunk) === false) controller.pause()
  }

  onResponseEnd(controller: DispatchController, trailers: IncomingHttpHeaders): void {
    this.#h.onComplete?.(rawHeaders(controller, trailers, true))
  }

  onResponseError(_controller: DispatchController | null, err: Error): void {
    // As undici's own WrapHandler: a legacy handler without onError has no way to hear of the failure.
    if (!this.#h.onError) throw err
    this.#h.onError(err)
  }

  onResponseStarted(): void {
    this.#h.onResponseStarted?.()
  }

  onBodySent(chunk: Buffer): void {
    this.#h.onBodySent?.(chunk)
  }
}

/** Returns `handler` if it speaks the current API, else wraps it (the same test undici 7 applies). */
export function currentApi(handler: DispatchHandler | LegacyDispatchHandler): DispatchHandler {
  const h = handler as DispatchHandler & LegacyDispatchHandler
  if (typeof h.onRequestStart === 'function') return h
  const legacy =
    typeof h.onConnect === 'function' ||
    typeof h.onHeaders === 'function' ||
    typeof h.onData === 'function' ||
    typeof h.onComplete === 'function' ||
    typeof h.onError === 'function' ||
    typeof h.onUpgrade === 'function'
  return legacy ? new LegacyHandler(h) : h
}
