import { BeamlineError } from '@beamline/core'

export { BeamlineError, InvalidHandleError, InvalidOptionError } from '@beamline/core'

/** A frame that can never fit: longer than the channel's capacity minus its 8-byte header. */
export class FrameTooLargeError extends BeamlineError {
  constructor(name: string, length: number, maxFrameBytes: number) {
    super(
      'ERR_BEAMLINE_FRAME_TOO_LARGE',
      `channel ${JSON.stringify(name)}: a frame of ${length} bytes can never fit; the largest is ${maxFrameBytes} bytes (capacityBytes − 8)`,
    )
  }
}

/** The channel was closed: nothing more is accepted (what was sent before stays readable). */
export class ChannelClosedError extends BeamlineError {
  constructor(name: string) {
    super('ERR_BEAMLINE_CHANNEL_CLOSED', `channel ${JSON.stringify(name)} is closed`)
  }
}

/** `send({ timeoutMs })` found no room in time; the frame was not sent. */
export class ChannelTimeoutError extends BeamlineError {
  constructor(name: string, timeoutMs: number) {
    super(
      'ERR_BEAMLINE_CHANNEL_TIMEOUT',
      `channel ${JSON.stringify(name)}: no room for the frame within ${timeoutMs} ms`,
    )
  }
}

/** `send({ signal })` was aborted before there was room; the frame was not sent. `cause` is the signal's reason. */
export class ChannelAbortedError extends BeamlineError {
  constructor(name: string, reason: unknown) {
    super('ERR_BEAMLINE_CHANNEL_ABORTED', `channel ${JSON.stringify(name)}: send aborted`, { cause: reason })
  }
}

/** Another live thread is the channel's consumer: a channel has exactly one. */
export class ChannelConsumerTakenError extends BeamlineError {
  constructor(name: string, consumerThreadId: number) {
    super(
      'ERR_BEAMLINE_CHANNEL_CONSUMER_TAKEN',
      `channel ${JSON.stringify(name)}: thread ${consumerThreadId} is its consumer; a channel has one consumer thread (another may take over when it exits)`,
    )
  }
}

/** Every producer slot is taken: more threads send than `maxThreads`, or exited workers were not watched. */
export class ChannelThreadSlotsError extends BeamlineError {
  constructor(name: string, slots: number) {
    super(
      'ERR_BEAMLINE_CHANNEL_THREAD_SLOTS',
      `channel ${JSON.stringify(name)}: all ${slots} producer slots are taken; raise maxThreads, or watch() workers so that exited ones free their slot`,
    )
  }
}

/** `owners` gave no channel for a recipient: an index out of range, or a ring node no channel is named after. */
export class ManifoldOwnerError extends BeamlineError {
  constructor(message: string) {
    super('ERR_BEAMLINE_MANIFOLD_OWNER', message)
  }
}

/** A frame on a Manifold's channel that a Manifold did not write (the channel is shared with other senders). */
export class ManifoldFrameError extends BeamlineError {
  constructor(message: string) {
    super('ERR_BEAMLINE_MANIFOLD_FRAME', message)
  }
}
