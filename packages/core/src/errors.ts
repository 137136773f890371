/**
 * Every error beamline throws is a `BeamlineError` with a stable `code` (`ERR_BEAMLINE_…`), following
 * Node's and undici's convention: match on `err.code`, not on the message, which may improve.
 *
 * `instanceof` works across copies of a package: an application can end up with two copies of
 * `@beamline/core` (or of `@beamline/semaphore`…), say one nested under a package that pinned another
 * version, and an error thrown by one copy must still be caught by `err instanceof SemaphoreFullError`
 * imported from the other. Each error records, under a registered symbol (the same in every copy), the
 * names of the classes it is an instance of, from its own up to `BeamlineError`; `instanceof` on any of
 * them accepts an error from another copy whose list holds that class's name. The name is the class's
 * identity, as it already is in `err.name` (a bundler that renames classes must keep their names, e.g.
 * esbuild's `keepNames`). Class names are unique across beamline's packages.
 */

/** Registered, so that every copy of this module (and every package's copy) reads the same key. */
const kClassNames = Symbol.for('beamline.error.classNames')

const ordinaryHasInstance = Function.prototype[Symbol.hasInstance]

/** `BeamlineError` and its subclasses: constructors whose instances are at least `BeamlineError`s. */
type ErrorClass<T> = abstract new (...args: never[]) => T

export class BeamlineError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
    const names: string[] = []
    for (let c: unknown = new.target; c !== Error && typeof c === 'function'; c = Object.getPrototypeOf(c)) {
      names.push(c.name)
    }
    Object.defineProperty(this, kClassNames, { value: Object.freeze(names) })
  }

  /** The ordinary prototype test, or an error of another copy of the same class (see the top of the file). */
  static override [Symbol.hasInstance]<T>(this: ErrorClass<T>, value: unknown): value is T {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass that instanceof asks about
    if (ordinaryHasInstance.call(this, value)) return true
    if (typeof value !== 'object' || value === null) return false
    const names = (value as { readonly [kClassNames]?: unknown })[kClassNames]
    // biome-ignore lint/complexity/noThisInStatic: as above
    return Array.isArray(names) && names.includes(this.name)
  }
}

/** An option or argument outside its accepted range. The message names the option and the range. */
export class InvalidOptionError extends BeamlineError {
  /** The option's name as the caller wrote it, e.g. `max` or `thresholds.gcFraction`. */
  readonly option: string
  /** The message without the option's name, e.g. `must be an integer from 1 to 10, got 0`. */
  readonly detail: string

  constructor(option: string, message: string) {
    super('ERR_BEAMLINE_INVALID_OPTION', `${option}: ${message}`)
    this.option = option
    this.detail = message
  }
}

/** `X.attach(handle)` was given something that is not a handle of X, or one of another layout version. */
export class InvalidHandleError extends BeamlineError {
  constructor(message: string) {
    super('ERR_BEAMLINE_INVALID_HANDLE', message)
  }
}

/** A write on an attached, read-only view of a shared structure. */
export class ReadOnlyError extends BeamlineError {
  constructor(message: string) {
    super('ERR_BEAMLINE_READ_ONLY', message)
  }
}
