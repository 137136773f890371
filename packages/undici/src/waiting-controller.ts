import type { DispatchController } from './types.js'

const abortError = () => new DOMException('This operation was aborted', 'AbortError')

/**
 * What a queued request's handler holds as its controller before the request reaches the wire. undici
 * delivers aborts (a `signal`, fetch's AbortController, a destroyed stream) through the controller
 * given to `onRequestStart`, so a waiting request must have been started with this one to hear of an
 * abort at once. Once the real request starts it forwards to the real controller.
 */
export class WaitingController implements DispatchController {
  readonly #request: { cancel(reason: Error): void }
  #real: DispatchController | null = null
  #aborted = false
  #paused = false
  #reason: Error | null = null

  /** `request.cancel` takes the request out of its wait when the caller aborts it. */
  constructor(request: { cancel(reason: Error): void }) {
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
