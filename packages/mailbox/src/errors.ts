import { BeamlineError } from '@beamline/core'

export { BeamlineError, InvalidHandleError, InvalidOptionError } from '@beamline/core'

/** `push()` on a mailbox (or lanes) after `close()`. A full mailbox never throws: `push()` returns false. */
export class MailboxClosedError extends BeamlineError {
  constructor(name: string) {
    super(
      'ERR_BEAMLINE_MAILBOX_CLOSED',
      `mailbox ${JSON.stringify(name)} is closed; push() is refused after close()`,
    )
  }
}
