import { functionOption } from '@beamline/core'
import { originKey } from './key-table.js'
import type {
  AnyDispatch,
  Dispatch,
  DispatchHandler,
  DispatchOptions,
  Interceptor,
  KeyFunction,
} from './types.js'

/** What both interceptors keep per instance: a dispatch by key, and per-key statistics. */
export interface KeyedState<S> {
  dispatch(next: Dispatch, key: string, opts: DispatchOptions, handler: DispatchHandler): boolean
  stats(): S[]
}

/**
 * Wraps `state` in undici's interceptor shape, `dispatch => (opts, handler) => boolean`, with `stats()`
 * attached. The returned dispatch declares exactly two parameters: `compose` checks `length === 2`.
 */
export function keyedInterceptor<S>(key: unknown, state: KeyedState<S>): Interceptor & { stats(): S[] } {
  const keyOf = functionOption<KeyFunction>('key', key) ?? originKey
  function interceptor<D extends AnyDispatch>(next: D): D {
    const keyedDispatch = (opts: DispatchOptions, handler: DispatchHandler): boolean =>
      state.dispatch(next, String(keyOf(opts)), opts, handler)
    return keyedDispatch as D
  }
  return Object.assign(interceptor, { stats: () => state.stats() })
}
