/**
 * The snapshot's version and bounds, shared by the schema (./snapshot-schema.ts) and the code that
 * builds snapshots within them (./snapshot.ts), which must not load the schema module.
 */

/** `schema` of every snapshot this version writes: the major version; a reader refuses other majors. */
export const SNAPSHOT_SCHEMA = 'beamline.snapshot/v1'
/** Path the exporter serves the snapshot on. */
export const SNAPSHOT_PATH = '/beamline/v1/snapshot'

/** Characters in any string value (names, keys of rows). */
export const MAX_NAME = 1024
/** Characters in a key of a name-keyed object (groups, rings, signals). */
export const MAX_KEY = 200
/** Rows of a list (semaphores, shed counts, origins) and mailbox groups. */
export const MAX_LIST = 10_000
/** Top mailboxes listed. */
export const MAX_TOP = 1000
/** Hash rings. */
export const MAX_MAP = 1000
/** Pressure signals and reasons. */
export const MAX_SIGNALS = 1000
/** GC types and heap spaces, and the length of their names. */
export const MAX_GC_TYPES = 16
export const MAX_HEAP_SPACES = 64
export const MAX_RUNTIME_KEY = 64
