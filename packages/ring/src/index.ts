// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'

export type { WatchableWorker } from '@beamline/core'
export {
  BeamlineError,
  InvalidHandleError,
  InvalidOptionError,
  ReadOnlyError,
  RingEmptyError,
  SnapshotTooLargeError,
  ValueLockTimeoutError,
  ValueNotCloneableError,
} from './errors.js'
export {
  HashRing,
  type HashRingHandle,
  type HashRingOptions,
  type RingNode,
  type RingNodeInput,
} from './hash-ring.js'
export type { Algorithm } from './ring-layout.js'
export { SharedSnapshot, type SharedSnapshotHandle, type SharedSnapshotOptions } from './shared-snapshot.js'
export { SharedValue, type SharedValueHandle, type SharedValueOptions } from './shared-value.js'
export { fmix32, xxh32, xxh32String } from './xxh32.js'
