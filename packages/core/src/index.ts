// First, for its effect: stops an unsupported Node before any other module is evaluated.
import './node-version.js'

export { BeamlineError, InvalidHandleError, InvalidOptionError, ReadOnlyError } from './errors.js'
export { checkHandle, checkSharedBuffer, type SharedHandle } from './handle.js'
export {
  defaultRoute,
  type Edge,
  type EdgeOptions,
  edgeOptions,
  type FastifyLike,
  type FastifyReplyLike,
  overloadResponse,
  pathOf,
} from './http-edge.js'
export { MIN_NODE_VERSION, unsupportedNode } from './node-version.js'
export {
  booleanOption,
  choiceOption,
  functionOption,
  integerOption,
  MAX_TIMER_MS,
  nameOption,
  numberOption,
  objectOption,
  optionsObject,
  timeoutOption,
} from './options.js'
export {
  acquireRuntimeSampler,
  type EventLoopDelay,
  type EventLoopWindow,
  type GcTotal,
  type HeapSpace,
  RUNTIME_WINDOW_MS,
  type RuntimeParts,
  type RuntimeSampler,
  runtimeSamplerRefs,
} from './runtime-sampler.js'
export {
  loadAfterReads,
  type SeqWords,
  seqReadBegin,
  seqReadValid,
  seqWriteBegin,
  seqWriteEnd,
  storeBeforeWrites,
} from './seqlock.js'
export {
  type Linked,
  type ParkOptions,
  Waiter,
  WaiterList,
  WaitQueue,
  type WaitQueueHooks,
} from './wait-queue.js'
export { warnOnce } from './warn.js'
export { onWorkerExit, type WatchableWorker } from './worker-exit.js'
