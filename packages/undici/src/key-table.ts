import type { DispatchOptions } from './types.js'

/**
 * The key requests share once `maxKeys` keys are tracked and none of them is idle enough to evict, as
 * route labels past `maxRoutes` share `other`.
 */
export const OTHER_KEY = '(other)'

/** @deprecated The former name of {@link OTHER_KEY} (whose value was `'(overflow)'`); kept for compatibility. */
export const OVERFLOW_KEY = OTHER_KEY

/** The default key: the request's origin, e.g. `https://api.example.com:8443`. */
export function originKey(opts: DispatchOptions): string {
  const origin = opts.origin
  if (typeof origin === 'string') return origin
  return origin == null ? '' : origin.origin
}

/**
 * Per-key state with bounded cardinality. A new key beyond `maxKeys` evicts the oldest idle entry (one
 * that holds nothing); when every entry is busy it shares the single `(other)` entry instead, so memory
 * and metric series stay bounded whatever the key function returns.
 */
export class KeyTable<T extends { readonly key: string }> {
  readonly #map = new Map<string, T>()
  readonly #maxKeys: number
  readonly #create: (key: string) => T
  readonly #isIdle: (entry: T) => boolean
  readonly #dispose: (entry: T) => void
  #other: T | undefined

  constructor(
    maxKeys: number,
    create: (key: string) => T,
    isIdle: (entry: T) => boolean,
    dispose: (entry: T) => void,
  ) {
    this.#maxKeys = maxKeys
    this.#create = create
    this.#isIdle = isIdle
    this.#dispose = dispose
  }

  get(key: string): T {
    return this.#map.get(key) ?? this.#add(key)
  }

  /** Every entry, the `(other)` one last when it exists. */
  entries(): T[] {
    const all = [...this.#map.values()]
    if (this.#other !== undefined) all.push(this.#other)
    return all
  }

  #add(key: string): T {
    if (this.#map.size >= this.#maxKeys) {
      // Map iteration is insertion order, so the first idle entry found is the oldest one.
      for (const [k, entry] of this.#map) {
        if (!this.#isIdle(entry)) continue
        this.#map.delete(k)
        this.#dispose(entry)
        break
      }
      if (this.#map.size >= this.#maxKeys) return (this.#other ??= this.#create(OTHER_KEY))
    }
    const entry = this.#create(key)
    this.#map.set(key, entry)
    return entry
  }
}
