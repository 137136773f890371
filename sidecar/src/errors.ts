import { BeamlineError } from '@beamline/core'

export { BeamlineError, InvalidOptionError } from '@beamline/core'

/**
 * The sidecar's configuration is unusable: an unknown flag, a malformed value, a target URL of an
 * unsupported scheme, an unreadable or invalid config file. `where` names the source (`--target`,
 * `BEAMLINE_INTERVAL_MS`, `sidecar.yaml:3:5`, `sidecar.yaml /targets/0`). The command line exits 2.
 */
export class ConfigError extends BeamlineError {
  readonly where: string

  constructor(where: string, message: string, options?: ErrorOptions) {
    super('ERR_BEAMLINE_SIDECAR_CONFIG', `${where}: ${message}`, options)
    this.where = where
  }
}
