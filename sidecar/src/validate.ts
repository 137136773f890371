import { SNAPSHOT_SCHEMA, type Snapshot } from '@beamline/exporter'
import { SnapshotSchema } from '@beamline/exporter/schema'
import { Ajv } from 'ajv'

/**
 * The snapshot's JSON Schema as a file, for readers that are not TypeScript (shipped in the package's
 * `schema/`). Generated from the definition the sidecar validates with (`@beamline/exporter/schema`);
 * a test fails when it is stale.
 */
export const SNAPSHOT_SCHEMA_URL = new URL('../../schema/snapshot-v1.schema.json', import.meta.url)

const ajv = new Ajv({ allErrors: false, strict: true })
const check = ajv.compile<Snapshot>(SnapshotSchema)

/** `schema` of a snapshot: the document type and its major version. Minor additions never change it. */
const SCHEMA_ID = /^beamline\.snapshot\/v(\d+)$/
const MAJOR = Number(SCHEMA_ID.exec(SNAPSHOT_SCHEMA)![1])

/** Why a document is not a snapshot this sidecar reads, as a `beamline_sidecar_poll_errors_total` reason. */
export interface SnapshotProblem {
  readonly error: 'unsupported_version' | 'invalid_snapshot'
  readonly reason: string
}

/**
 * `undefined` if `doc` is a snapshot this sidecar reads: `beamline.snapshot/v1`, with any properties
 * a later minor version added (they are ignored). Another major version is refused by name, so an
 * exporter newer than the sidecar shows as such rather than as a broken document; anything else is
 * refused with its first problem, located by JSON pointer.
 */
export function snapshotProblem(doc: unknown): SnapshotProblem | undefined {
  const id = typeof doc === 'object' && doc !== null ? (doc as { schema?: unknown }).schema : undefined
  const major = typeof id === 'string' ? SCHEMA_ID.exec(id)?.[1] : undefined
  if (major !== undefined && Number(major) !== MAJOR) {
    const which = Number(major) > MAJOR ? 'newer than' : 'older than'
    return {
      error: 'unsupported_version',
      reason: `snapshot schema ${id} is ${which} the ${SNAPSHOT_SCHEMA} this sidecar reads: run a sidecar of the exporter's version`,
    }
  }
  if (check(doc)) return undefined
  const e = check.errors?.[0]
  return {
    error: 'invalid_snapshot',
    reason: `invalid snapshot: ${e ? `${e.instancePath || '/'} ${e.message ?? 'is invalid'}` : 'invalid'}`,
  }
}

/** Returns `undefined` if `doc` is a valid v1 snapshot, else why not (`snapshotProblem`'s reason). */
export function snapshotError(doc: unknown): string | undefined {
  return snapshotProblem(doc)?.reason
}
