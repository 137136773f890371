/**
 * The one place beamline says which Node it needs. Every entry point (each package's index, the
 * sidecar's command line, the demo) imports `@beamline/core` before anything else, and this is the
 * first module `@beamline/core` evaluates: ES modules are evaluated depth first, in the order of their
 * import statements, so on an older Node the process stops here with one line, before a dependency
 * is evaluated and crashes deep inside itself (undici 8 on Node 20: `reading 'bind'`).
 */
import { writeSync } from 'node:fs'

/** The oldest Node beamline runs on, as in every package's `engines`. */
export const MIN_NODE_VERSION = '22.12.0'

/** `beamline needs Node ≥ 22.12 (this is 20.20.2)` for a `version` older than 22.12; undefined otherwise. */
export function unsupportedNode(version: string = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  if (major > 22 || (major === 22 && minor >= 12)) return undefined
  return `beamline needs Node ≥ 22.12 (this is ${version})`
}

const unsupported = unsupportedNode()
if (unsupported !== undefined) {
  // writeSync: a worker thread's process.stderr is relayed to the main thread asynchronously, and
  // would lose the line to the exit below. In a worker, process.exit ends that thread with code 2.
  writeSync(2, `${unsupported}\n`)
  process.exit(2)
}
