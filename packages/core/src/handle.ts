import { InvalidHandleError } from './errors.js'

/**
 * What crosses a thread boundary for every shared structure: plain data plus `SharedArrayBuffer`s,
 * so it survives `structuredClone` (workerData, postMessage). `kind` and `version` let `attach`
 * refuse a handle of another structure, or one laid out by another version of the package, instead
 * of reading garbage from shared memory.
 */
export interface SharedHandle<K extends string = string> {
  readonly kind: K
  readonly version: number
}

/** Checks that `value` is a handle of `kind` with layout `version`; throws `ERR_BEAMLINE_INVALID_HANDLE`. */
export function checkHandle<H extends SharedHandle>(value: unknown, kind: H['kind'], version: number): H {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidHandleError(`expected a ${kind} handle, got ${value === null ? 'null' : typeof value}`)
  }
  const handle = value as Partial<SharedHandle>
  if (handle.kind !== kind) {
    throw new InvalidHandleError(
      `expected a ${kind} handle, got ${handle.kind === undefined ? 'an object without kind' : `a ${String(handle.kind)} handle`}`,
    )
  }
  if (handle.version !== version) {
    throw new InvalidHandleError(
      `${kind} handle has layout version ${String(handle.version)}; this package reads version ${version}`,
    )
  }
  return value as H
}

/** Checks that `value` is a `SharedArrayBuffer` of at least `minBytes`. */
export function checkSharedBuffer(
  kind: string,
  field: string,
  value: unknown,
  minBytes: number,
): SharedArrayBuffer {
  if (!(value instanceof SharedArrayBuffer) || value.byteLength < minBytes) {
    throw new InvalidHandleError(
      `${kind} handle: ${field} must be a SharedArrayBuffer of at least ${minBytes} bytes`,
    )
  }
  return value
}
