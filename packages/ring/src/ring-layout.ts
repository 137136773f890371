/*
 * What a HashRing publishes into each buffer of its SharedSnapshot (the double-buffered seqlock of
 * ./layout.ts, whose rules cover every byte below: one writer, the thread that created the ring,
 * writes them with plain stores into the idle buffer; readers read them with plain loads and accept
 * an answer only after the seqlock validated the buffer).
 *
 *   payload (bytes from the buffer's data start)
 *     0  ALGORITHM    Uint32   0 'default', 1 'ketama'
 *     4  NODES        Uint32   N, nodes in the table (in the caller's order)
 *     8  POINTS       Uint32   P, points on the ring
 *    12  INDEX_BITS   Uint32   B: the index has 2^B + 1 entries
 *    16  ID_BYTES     Uint32   UTF-8 bytes of all node ids
 *    20  (reserved to 32)
 *    32  points       Uint32[P]          ascending; equal points keep generation order (ties)
 *        owners       Uint16[P]          node (table index) owning each point; padded to 4 bytes
 *        index        Uint32[2^B + 1]    index[j] = first point whose top B bits are ≥ j; index[2^B] = P
 *        (padded to 8)
 *        weights      Float64[N]
 *        idEnds       Uint32[N]          id i is ids[idEnds[i − 1] (0 for i = 0) .. idEnds[i])
 *        ids          UTF-8 bytes
 *
 * The index turns a lookup into one load plus a binary search over about 2–4 points instead of
 * log2(P) ≈ 17 cache-missing steps. B = ceil(log2 P) − 2, from 1 to 24.
 */

export const ALGORITHM = 0
export const NODES = 1
export const POINTS = 2
export const INDEX_BITS = 3
export const ID_BYTES = 4
export const RING_HEADER_BYTES = 32

export const ALGORITHMS = ['default', 'ketama'] as const
export type Algorithm = (typeof ALGORITHMS)[number]

/** Owners are Uint16. */
export const MAX_NODES = 65535

export interface RingLayout {
  points: number
  owners: number
  index: number
  weights: number
  idEnds: number
  ids: number
  /** Total payload bytes. */
  bytes: number
}

export function indexBits(points: number): number {
  return Math.min(24, Math.max(1, Math.ceil(Math.log2(Math.max(points, 1))) - 2))
}

const align = (n: number, to: number) => Math.ceil(n / to) * to

export function ringLayout(nodes: number, points: number, bits: number, idBytes: number): RingLayout {
  const owners = RING_HEADER_BYTES + 4 * points
  const index = align(owners + 2 * points, 4)
  const weights = align(index + 4 * (2 ** bits + 1), 8)
  const idEnds = weights + 8 * nodes
  const ids = idEnds + 4 * nodes
  return { points: RING_HEADER_BYTES, owners, index, weights, idEnds, ids, bytes: ids + idBytes }
}
