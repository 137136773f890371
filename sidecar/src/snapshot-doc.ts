/**
 * docs/snapshot-schema.md and sidecar/schema/snapshot-v1.schema.json, generated from the snapshot's one
 * definition (`@beamline/exporter/schema`); a test keeps both files in step with it.
 */
import { SNAPSHOT_PATH, SNAPSHOT_SCHEMA } from '@beamline/exporter'
import { SnapshotSchema } from '@beamline/exporter/schema'

/** The subset of JSON Schema the definition uses. */
interface Schema {
  readonly type?: string
  readonly title?: string
  readonly description?: string
  readonly const?: unknown
  readonly anyOf?: readonly Schema[]
  readonly properties?: Readonly<Record<string, Schema>>
  readonly required?: readonly string[]
  readonly items?: Schema
  readonly additionalProperties?: Schema
  readonly propertyNames?: { readonly maxLength?: number }
  readonly maxLength?: number
  readonly maxItems?: number
  readonly maxProperties?: number
  readonly minimum?: number
  readonly maximum?: number
}

const root = SnapshotSchema as Schema

/** The JSON Schema file: the definition as draft-07 JSON. */
export function renderSchemaFile(): string {
  return `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...SnapshotSchema }, null, 2)}\n`
}

/** The object a schema describes, looking through `null |` unions, arrays and maps. */
function inner(s: Schema): Schema {
  if (s.anyOf) return inner(s.anyOf.find((x) => x.type !== 'null') ?? s)
  if (s.type === 'array' && s.items) return inner(s.items)
  if (s.type === 'object' && s.additionalProperties) return inner(s.additionalProperties)
  return s
}

function typeName(s: Schema): string {
  if (s.anyOf) return s.anyOf.map(typeName).join(' or ')
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``
  if (s.title) return `[${s.title}](#${s.title.toLowerCase()})`
  if (s.type === 'array' && s.items) return `array of ${typeName(s.items)}`
  if (s.type === 'object' && s.additionalProperties) return `map of ${typeName(s.additionalProperties)}`
  return s.type ?? 'any'
}

function bounds(s: Schema, required: boolean): string {
  const parts: string[] = []
  if (!required) parts.push('optional')
  const t = s.anyOf?.find((x) => x.type !== 'null') ?? s
  if (t.minimum !== undefined && t.maximum !== undefined) parts.push(`${t.minimum}–${t.maximum}`)
  else if (t.minimum !== undefined) parts.push(`≥ ${t.minimum}`)
  if (t.maxLength !== undefined) parts.push(`≤ ${t.maxLength} characters`)
  if (t.maxItems !== undefined) parts.push(`≤ ${t.maxItems} items`)
  if (t.maxProperties !== undefined) parts.push(`≤ ${t.maxProperties} keys`)
  if (t.propertyNames?.maxLength !== undefined) parts.push(`keys ≤ ${t.propertyNames.maxLength} characters`)
  return parts.length > 0 ? ` (${parts.join('; ')})` : ''
}

/** Rows of an object's fields; untitled nested objects are expanded in place, titled ones get a section. */
function rows(s: Schema, path: string, named: Map<string, Schema>): string[] {
  const out: string[] = []
  for (const [key, field] of Object.entries(s.properties ?? {})) {
    const required = s.required?.includes(key) ?? false
    const sep = path === '' ? '' : '.'
    const suffix = field.type === 'array' ? '[]' : field.additionalProperties ? '.*' : ''
    const at = `${path}${sep}${key}${suffix}`
    out.push(`| \`${at}\` | ${typeName(field)} | ${field.description ?? ''}${bounds(field, required)} |`)
    const obj = inner(field)
    if (obj.title) named.set(obj.title, obj)
    else if (obj.properties) out.push(...rows(obj, at, named))
  }
  return out
}

const HEADER = '| field | type | meaning |\n| --- | --- | --- |'

const SESSIONS = {
  queued: 12,
  nonEmpty: 3,
  longest: 9,
  mailboxes: 10000,
  enqueued: 5120000,
  dequeued: 5119988,
  rejected: 0,
  dropped: { overflow: 4, expired: 0 },
}

/** A valid v1 document, as today's exporter writes it (a test validates it). */
export const EXAMPLE = {
  schema: 'beamline.snapshot/v1',
  service: 'chat-api',
  instance: 'web-1:4242',
  pid: 4242,
  startTime: 1763771000000,
  time: 1763771123456,
  mailboxes: {
    totals: SESSIONS,
    groups: { sessions: SESSIONS },
    longest: { name: 'user:42', group: 'sessions', length: 9 },
    top: [
      {
        name: 'user:42',
        group: 'sessions',
        length: 9,
        peak: 31,
        enqueued: 900,
        dequeued: 891,
        rejected: 0,
        dropped: { overflow: 0, expired: 0 },
        oldestAgeMs: 14,
      },
    ],
    overflowNames: 0,
  },
  semaphores: [
    {
      name: 'db',
      max: 32,
      inUse: 7,
      waiting: 0,
      acquired: 81234,
      rejected: 12,
      timedOut: 0,
      peakInUse: 32,
      reclaimed: 0,
    },
  ],
  pressure: { level: 0, score: 0.31, reasons: [], signals: { eventLoopDelayP99Ms: 14.2 }, shed: [] },
  rings: { sessions: { version: 3, nodes: 4, weight: 4 } },
  undici: { bulkheads: [], throttles: [] },
  runtime: {
    windowSeconds: 1.0,
    eventLoopDelay: {
      min: 0.0101,
      max: 0.0132,
      mean: 0.0104,
      stddev: 0.0004,
      p50: 0.0103,
      p90: 0.0107,
      p99: 0.0131,
    },
    eventLoopUtilization: 0.07,
    gc: { minor: { count: 210, seconds: 0.21 }, major: { count: 3, seconds: 0.05 } },
    heapSpaces: { old_space: { used: 21000000, limit: 24000000, available: 2000000000, physical: 23000000 } },
    rssBytes: 98000000,
  },
}

/** docs/snapshot-schema.md. */
export function renderSnapshotDoc(): string {
  const named = new Map<string, Schema>()
  const top = rows(root, '', named)
  const sections: string[] = []
  // Sections in first-use order; a section may name further ones.
  for (const [title, s] of named) {
    sections.push(
      `### ${title}\n\n${s.description ? `${s.description}\n\n` : ''}${HEADER}\n${rows(s, '', named).join('\n')}`,
    )
  }
  return `# Snapshot schema, version 1

<!-- Generated from packages/exporter/src/snapshot-schema.ts by sidecar/test/snapshot-schema.test.ts;
     do not edit by hand. Regenerate: BEAMLINE_WRITE_DOCS=1 node --test sidecar/dist/test/snapshot-schema.test.js -->

\`GET ${SNAPSHOT_PATH}\` on an exporter (\`@beamline/exporter\`'s \`startExporter\`) returns one JSON
document, \`Content-Type: application/json\`, a few kilobytes whatever the number of mailboxes. Its
one definition is [\`packages/exporter/src/snapshot-schema.ts\`](../packages/exporter/src/snapshot-schema.ts)
(TypeBox): the exporter's TypeScript types are derived from it, the sidecar validates every snapshot
with it (ajv), and this page and the JSON Schema file
[\`sidecar/schema/snapshot-v1.schema.json\`](../sidecar/schema/snapshot-v1.schema.json) (draft-07, for
readers in other languages) are generated from it. A target that sends anything else is marked
\`beamline_target_up 0\`, with the first violation as the reason.

## Versioning

\`schema\` is \`${SNAPSHOT_SCHEMA}\`: the document type and its **major** version, and nothing else.

- **Minor changes add**: a new field, a new object, a new drop cause. They keep \`schema\` as it is.
  Every object accepts properties the schema does not list, and a field added in a minor version is
  optional in the definition, so a sidecar of an older minor reads a newer exporter's snapshot (and
  ignores what it does not know), and a newer sidecar reads an older exporter's.
- **Major changes break**: a rename, a removal, a change of unit or meaning. They bump \`schema\` to
  \`beamline.snapshot/v2\` and the path to \`/beamline/v2/snapshot\`. A sidecar refuses a snapshot of
  another major version by name: the poll fails with \`reason="unsupported_version"\` in
  \`beamline_sidecar_poll_errors_total\`, and \`/api/v1/targets\` says which version the target sent and
  which the sidecar reads. Run a sidecar of the exporter's release.

## Units

Counters are cumulative since the process started (\`startTime\` tells a restart apart; the sidecar
also treats any decrease as a reset); gauges are values at \`time\`; times are milliseconds since the
Unix epoch, durations in seconds unless the name says \`Ms\`, sizes in bytes. Bounds (string lengths,
list and map sizes) keep a confused target from making the sidecar build unbounded state; the
sidecar also refuses bodies over 4 MiB (\`--max-body-bytes\`) and polls that take over 500 ms
(\`--timeout-ms\`).

## Fields

${HEADER}
${top.join('\n')}

${sections.join('\n\n')}

## Example

\`\`\`json
${JSON.stringify(EXAMPLE, null, 2)}
\`\`\`
`
}
