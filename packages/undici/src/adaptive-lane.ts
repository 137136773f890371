import { InvalidOptionError } from '@beamline/core'
import { AdaptiveLimit, type AdaptiveLimitOptions } from '@beamline/limit'
import type { BulkheadRequest } from './bulkhead-request.js'
import { Lane, type Outcome } from './lane.js'

/**
 * `@beamline/limit`'s options for each key's adaptive limit, without `name` (each key's limit is
 * named `undici:<key>`), `queue` (the bulkhead's own queue applies: `maxQueued`, `queueTimeoutMs`)
 * and `maxThreads` (a key's limit lives in this thread).
 */
export type AdaptiveConcurrency = Omit<AdaptiveLimitOptions, 'name' | 'queue' | 'maxThreads' | 'partitions'>

/** Longest limit name @beamline/limit takes, in UTF-8 bytes. */
const MAX_NAME_BYTES = 200

/** A lane whose slots are the tokens of the key's own adaptive limit, which each request's outcome teaches. */
export class AdaptiveLane extends Lane {
  readonly #limit: AdaptiveLimit

  constructor(key: string, limit: AdaptiveLimit) {
    super(key, limit.limit)
    this.#limit = limit
  }

  override get limit(): number {
    return this.#limit.limit
  }

  override take(request: BulkheadRequest): boolean {
    const token = this.#limit.tryAcquire()
    if (token === undefined) return false
    request.token = token
    this.held++
    return true
  }

  override give(request: BulkheadRequest, outcome: Outcome): void {
    const token = request.token
    request.token = undefined
    token?.[outcome]()
    this.held--
  }
}

/**
 * Makes the adaptive lanes of one bulkhead. Its options are validated here, once, rather than at the
 * first request of each key; an error names them under `maxConcurrent.`.
 */
export class AdaptiveLanes {
  readonly #options: AdaptiveConcurrency

  constructor(options: AdaptiveConcurrency) {
    this.#options = options
    try {
      new AdaptiveLimit(this.#limitOptions('validation'))
    } catch (err) {
      if (!(err instanceof InvalidOptionError)) throw err
      const option = err.option === 'options' ? 'maxConcurrent' : `maxConcurrent.${err.option}`
      throw new InvalidOptionError(option, err.message.slice(err.option.length + 2))
    }
  }

  create(key: string): AdaptiveLane {
    return new AdaptiveLane(key, new AdaptiveLimit(this.#limitOptions(key)))
  }

  #limitOptions(key: string): AdaptiveLimitOptions {
    // A limit's name must be well-formed: a key may hold lone surrogates, and a cut may split a pair.
    let name = `undici:${key}`.toWellFormed()
    while (Buffer.byteLength(name) > MAX_NAME_BYTES) name = name.slice(0, -1)
    name = name.toWellFormed()
    return { ...this.#options, name, queue: false, maxThreads: 1 }
  }
}
