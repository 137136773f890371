/**
 * GenStage-style consumption: the consumer asks the mailbox for at most `maxDemand` items at a time
 * and keeps at most `concurrency` batches in its handler. Items it has not asked for stay in the
 * mailbox, where they are bounded, visible to stats() and subject to overflow, expiry and overload
 * shedding: back-pressure reaches the producer as `push() === false` instead of as a hidden buffer.
 */
import { functionOption, InvalidOptionError, integerOption, warnOnce } from '@beamline/core'

export interface ConsumeOptions<T> {
  /**
   * Most items handed to one handler call (GenStage's max_demand). Integer from 1 to 1 000 000.
   * Default 1000; use 1 for one item per call.
   */
  maxDemand?: number
  /** Handler calls (batches) in progress at once. Integer from 1 to 10 000. Default 1. */
  concurrency?: number
  /**
   * Called when the handler throws or its promise rejects; consumption goes on. Without it, the first
   * error stops the consumer and rejects `done` (items not yet taken stay in the mailbox).
   */
  onError?: (error: unknown, items: T[]) => void
}

export interface Consumer {
  /**
   * Settles when consumption is over: resolves once the mailbox is closed and drained and every
   * handler call has finished, or once `stop()` has finished; rejects with the handler's first error
   * when there is no `onError`.
   */
  readonly done: Promise<void>
  /** Handler calls in progress. */
  readonly inFlight: number
  /** Stops taking items; resolves when the handler calls in progress have finished. Idempotent. */
  stop(): Promise<void>
}

/** What a consumer needs of a mailbox. */
export interface ConsumerSource<T> {
  /** Up to `max` items, oldest first; empty when none is ready. */
  take(max: number): T[]
  /** Resolves at the next push or at close. */
  wait(): Promise<void>
  isClosed(): boolean
}

export type BatchHandler<T> = (items: T[]) => unknown

export interface ConsumeSettings<T> {
  maxDemand: number
  concurrency: number
  onError: ((error: unknown, items: T[]) => void) | undefined
}

export function consumeSettings<T>(options: ConsumeOptions<T> | undefined): ConsumeSettings<T> {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidOptionError('options', 'must be an object')
  }
  return {
    maxDemand: integerOption('maxDemand', options?.maxDemand, 1, 1_000_000, 1000),
    concurrency: integerOption('concurrency', options?.concurrency, 1, 10_000, 1),
    onError: functionOption('onError', options?.onError),
  }
}

export class Pump<T> implements Consumer {
  readonly done: Promise<void>
  readonly #source: ConsumerSource<T>
  readonly #handler: BatchHandler<T>
  readonly #settings: ConsumeSettings<T>
  #inFlight = 0
  #stopped = false
  #waiting = false
  #settled = false
  #resolve!: () => void
  #reject!: (error: unknown) => void

  constructor(source: ConsumerSource<T>, handler: BatchHandler<T>, settings: ConsumeSettings<T>) {
    this.#source = source
    this.#handler = handler
    this.#settings = settings
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    queueMicrotask(() => this.#pump())
  }

  get inFlight(): number {
    return this.#inFlight
  }

  stop(): Promise<void> {
    this.#stopped = true
    this.#settleIfIdle()
    return this.done.then(
      () => {},
      () => {},
    )
  }

  #pump(): void {
    const { maxDemand, concurrency } = this.#settings
    while (!this.#stopped && this.#inFlight < concurrency) {
      const batch = this.#source.take(maxDemand)
      if (batch.length === 0) {
        if (this.#source.isClosed()) {
          this.#stopped = true
          this.#settleIfIdle()
        } else if (!this.#waiting) {
          this.#waiting = true
          void this.#source.wait().then(() => {
            this.#waiting = false
            this.#pump()
          })
        }
        return
      }
      this.#inFlight++
      this.#run(batch)
    }
  }

  #run(batch: T[]): void {
    let result: unknown
    try {
      result = this.#handler(batch)
    } catch (error) {
      queueMicrotask(() => this.#failed(error, batch))
      return
    }
    Promise.resolve(result).then(
      () => this.#finished(),
      (error: unknown) => this.#failed(error, batch),
    )
  }

  #finished(): void {
    this.#inFlight--
    if (this.#stopped) this.#settleIfIdle()
    else this.#pump()
  }

  #failed(error: unknown, batch: T[]): void {
    const onError = this.#settings.onError
    if (onError === undefined) {
      this.#stopped = true
      if (!this.#settled) {
        this.#settled = true
        this.#reject(error)
      }
    } else {
      try {
        onError(error, batch)
      } catch (cause) {
        warnOnce('mailbox:consume:onError', 'Mailbox consumer: onError threw; consumption goes on', cause)
      }
    }
    this.#finished()
  }

  #settleIfIdle(): void {
    if (this.#inFlight === 0 && !this.#settled) {
      this.#settled = true
      this.#resolve()
    }
  }
}
