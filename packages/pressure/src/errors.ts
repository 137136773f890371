export { BeamlineError, InvalidHandleError, InvalidOptionError } from '@beamline/core'
