import { readFileSync } from 'node:fs'
import type { Snapshot } from '@beamline/exporter'
import { Ajv } from 'ajv'

/** The JSON Schema every snapshot is checked against (shipped in the package's `schema/`). */
export const SNAPSHOT_SCHEMA_URL = new URL('../../schema/snapshot-v1.schema.json', import.meta.url)

const ajv = new Ajv({ allErrors: false, strict: true })
const check = ajv.compile<Snapshot>(JSON.parse(readFileSync(SNAPSHOT_SCHEMA_URL, 'utf8')))

/** Returns `undefined` if `doc` is a valid v1 snapshot, else the first problem, located by JSON pointer. */
export function snapshotError(doc: unknown): string | undefined {
  if (check(doc)) return undefined
  const e = check.errors?.[0]
  return e ? `${e.instancePath || '/'} ${e.message ?? 'is invalid'}` : 'invalid'
}
