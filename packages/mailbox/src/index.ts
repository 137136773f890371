// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'

export type { WatchableWorker } from '@beamline/core'
export type { BatchHandler, ConsumeOptions, Consumer } from './consumer.js'
export { BeamlineError, InvalidHandleError, InvalidOptionError, MailboxClosedError } from './errors.js'
export { Lanes, type LanesOptions, type LanesStats, MAX_LANES } from './lanes.js'
export { Mailbox } from './mailbox.js'
export {
  type DropCounts,
  type DropReason,
  MAX_CAPACITY,
  type MailboxOptions,
  type MailboxStats,
  type OverflowMode,
  type OverloadOptions,
} from './mailbox-options.js'
export type { Observation, ObserveOptions } from './observe.js'
export {
  type AttachOptions,
  MailboxRegistry,
  type MailboxRegistryHandle,
  type MailboxRegistryOptions,
} from './registry.js'
export type { GroupStats, RegistrySnapshot, RegistryStats } from './registry-scan.js'
