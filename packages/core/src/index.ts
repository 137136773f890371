// First, for its effect: stops an unsupported Node before any other module is evaluated.
import './node-version.js'

export { BeamlineError, InvalidHandleError, InvalidOptionError, ReadOnlyError } from './errors.js'
export { checkHandle, checkSharedBuffer, type SharedHandle } from './handle.js'
export {
  defaultRoute,
  type Edge,
  type EdgeOptions,
  edgeOptions,
  overloadResponse,
  pathOf,
} from './http-edge.js'
export { MIN_NODE_VERSION, unsupportedNode } from './node-version.js'
export { choiceOption, functionOption, integerOption, nameOption, numberOption } from './options.js'
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
export { warnOnce } from './warn.js'
export { onWorkerExit } from './worker-exit.js'
