import { BeamlineError } from '@beamline/core'

export { BeamlineError, InvalidOptionError } from '@beamline/core'

/**
 * `startExporter` could not listen: the Unix socket path is held by a live process (a stale socket
 * file, whose owner is gone, is removed and reused), or the TCP port is taken. `cause` is the
 * system error.
 */
export class ListenError extends BeamlineError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_BEAMLINE_EXPORTER_LISTEN', message, options)
  }
}
