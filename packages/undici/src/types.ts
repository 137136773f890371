import type { Dispatcher } from 'undici'

/** undici's dispatch options (`origin`, `path`, `method`, …) as the interceptor receives them. */
export type DispatchOptions = Dispatcher.DispatchOptions
/** A handler of undici's current API (`onRequestStart`, `onResponseStart`, …), v7 and v8. */
export type DispatchHandler = Dispatcher.DispatchHandler
export type DispatchController = Dispatcher.DispatchController
/** `dispatcher.dispatch` itself: returns false when the dispatcher wants the caller to wait for `'drain'`. */
export type Dispatch = (opts: DispatchOptions, handler: DispatchHandler) => boolean

/** A dispatch function of undici 7 or 8, whose types declare their dispatch options differently. */
// biome-ignore lint/suspicious/noExplicitAny: undici v7 and v8 type their dispatch options differently
export type AnyDispatch = (opts: any, handler: any) => boolean

/**
 * An undici interceptor, what `dispatcher.compose()` takes: `dispatch => (opts, handler) => boolean`.
 * Generic over the dispatch function so that it composes onto a v7 or a v8 dispatcher alike.
 */
export type Interceptor = <D extends AnyDispatch>(dispatch: D) => D

/** Picks the bucket a request is counted under. Must be cheap and return a low-cardinality string. */
export type KeyFunction = (opts: DispatchOptions) => string
