// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'

export {
  Channel,
  type ChannelHandle,
  type ChannelOptions,
  type ChannelStats,
  type QueueRegistry,
  type SendOptions,
  type WatchableWorker,
} from './channel.js'
export { bytesCodec, type Codec, type CodecName, jsonCodec } from './codec.js'
export {
  BeamlineError,
  ChannelAbortedError,
  ChannelClosedError,
  ChannelConsumerTakenError,
  ChannelThreadSlotsError,
  ChannelTimeoutError,
  FrameTooLargeError,
  InvalidHandleError,
  InvalidOptionError,
  ManifoldFrameError,
  ManifoldOwnerError,
} from './errors.js'
export {
  Manifold,
  type ManifoldAttachOptions,
  type ManifoldHandle,
  type ManifoldOptions,
  type OwnerRing,
  type Owners,
  RecipientGroup,
  type RecipientId,
} from './manifold.js'
