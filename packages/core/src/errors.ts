/**
 * Every error beamline throws is a `BeamlineError` with a stable `code` (`ERR_BEAMLINE_…`), following
 * Node's and undici's convention: match on `err.code`, not on the message, which may improve.
 */
export class BeamlineError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
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
