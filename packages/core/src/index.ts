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
export { choiceOption, functionOption, integerOption, nameOption, numberOption } from './options.js'
export { warnOnce } from './warn.js'
export { onWorkerExit } from './worker-exit.js'
