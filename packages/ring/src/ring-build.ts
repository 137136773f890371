/**
 * Builds a ring payload (layout: ./ring-layout.ts) in place, in the idle buffer. Runs only in the
 * thread that owns the ring.
 *
 * 'default' (documented in the README so that other languages can compute the same ring): node id s
 * with weight w gets round(pointsPerWeight × w) points (at least 1); point k is
 *   fmix32(XXH32(utf8(s), 0) XOR XXH32(le32(k), 0))
 * and a key with h = XXH32(utf8(key), 0) goes to the point at the smallest circular distance from h
 * (min of (p − h) mod 2^32 and (h − p) mod 2^32); on equal distance the clockwise one; equal points:
 * the node whose id sorts first (UTF-16 code units). Nearest rather than next point halves the
 * variance of each point's share (its cell is half of two gaps, not one gap), so 500 points per node
 * balance as well as 1000 successor points. Point k never depends on other nodes, so removing a node
 * moves only its keys and adding one moves only keys to it. Mixing k through XXH32 before the XOR
 * and fmix32 after it means two nodes' point sets never overlap by more than chance, which `seed + k` schemes do
 * for some pairs of ids.
 *
 * 'ketama' (hashring@3): with T the total weight and n nodes, node s gets floor(w / T × 40 × n) virtual
 * nodes; virtual node i contributes the four little-endian words of MD5(utf8(`${s}-${i}`)) as points; a
 * key goes to the first point ≥ the first little-endian word of MD5(utf8(key)), wrapping; equal points:
 * the node listed first wins (hashring's stable sort).
 *
 * A 'default' change that keeps most nodes (same id and weight) is built incrementally: the previous
 * version's sorted points (the other buffer, which only this thread writes) are merged with the added
 * nodes' points in one pass, instead of generating and sorting every point again; the result is byte
 * for byte the full build's (tested).
 */
import { md5String } from './md5.js'
import {
  ALGORITHM,
  type Algorithm,
  ID_BYTES,
  INDEX_BITS,
  indexBits,
  NODES,
  POINTS,
  type RingLayout,
  ringLayout,
} from './ring-layout.js'
import { fmix32, xxh32String, xxh32Uint32 } from './xxh32.js'

export interface RingNode {
  readonly id: string
  readonly weight: number
}

export interface RingPlan {
  algorithm: Algorithm
  nodes: readonly RingNode[]
  /** Points per node, in table order. */
  counts: number[]
  total: number
  bits: number
  ids: Buffer
  idEnds: number[]
  layout: RingLayout
}

const KETAMA_VNODES = 40

/** Plans the payload: sizes and offsets, without allocating per point (so a too-large ring fails cheaply). */
export function planRing(
  algorithm: Algorithm,
  nodes: readonly RingNode[],
  pointsPerWeight: number,
): RingPlan {
  let counts: number[]
  if (algorithm === 'default') {
    counts = nodes.map((n) => Math.max(1, Math.round(pointsPerWeight * n.weight)))
  } else {
    // hashring's arithmetic, in its order of operations, so that float rounding matches too.
    const total = nodes.reduce((sum, n) => sum + n.weight, 0)
    counts = nodes.map((n) => Math.floor((n.weight / total) * KETAMA_VNODES * nodes.length) * 4)
  }
  const total = counts.reduce((a, b) => a + b, 0)
  const ids = Buffer.from(nodes.map((n) => n.id).join(''), 'utf8')
  const idEnds: number[] = []
  let end = 0
  for (const n of nodes) idEnds.push((end += Buffer.byteLength(n.id, 'utf8')))
  const bits = indexBits(total)
  return {
    algorithm,
    nodes,
    counts,
    total,
    bits,
    ids,
    idEnds,
    layout: ringLayout(nodes.length, total, bits, ids.length),
  }
}

// Writer-thread scratch, grown on demand: points in generation order, then after the first sort pass.
let rawPoints = new Uint32Array(0)
let rawOwners = new Uint16Array(0)
let midPoints = new Uint32Array(0)
let midOwners = new Uint16Array(0)
const topCount = new Uint32Array(257)
const topCursor = new Uint32Array(256)
let subCount = new Uint32Array(0)
let pointMix = new Uint32Array(0)

/** XXH32(le32(k), 0) for k < pointMix.length: the same for every node, so computed once per thread. */
function pointMixes(count: number): Uint32Array {
  if (pointMix.length < count) {
    pointMix = new Uint32Array(count)
    for (let k = 0; k < count; k++) pointMix[k] = xxh32Uint32(k)
  }
  return pointMix
}

/** Node indices of `nodes` (or of the listed subset) in id order: the order points are generated in, which settles ties. */
function byId(nodes: readonly RingNode[], subset: number[] = nodes.map((_, i) => i)): number[] {
  return subset.sort((a, b) => (nodes[a]!.id < nodes[b]!.id ? -1 : 1))
}

function generateDefault(plan: RingPlan, topShift: number): void {
  const { nodes, counts } = plan
  const mix = pointMixes(Math.max(0, ...counts))
  topCount.fill(0)
  let at = 0
  for (const i of byId(nodes))
    at = generateNode(
      rawPoints,
      rawOwners,
      mix,
      xxh32String(nodes[i]!.id),
      i,
      counts[i]!,
      at,
      topCount,
      topShift,
    )
}

// Module-level `let`s are read through the context with a hole check on every access: hot loops get
// locals. fmix32 is spelled out so that it is inlined whatever the tier; the top-bits histogram of the
// first sort pass is counted on the way.
function generateNode(
  out: Uint32Array,
  outOwners: Uint16Array,
  mix: Uint32Array,
  seed: number,
  owner: number,
  count: number,
  at: number,
  tops: Uint32Array,
  topShift: number,
): number {
  for (let k = 0; k < count; k++) {
    let h = seed ^ mix[k]!
    h ^= h >>> 16
    h = Math.imul(h, 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    h ^= h >>> 16
    out[at] = h
    outOwners[at++] = owner
    tops[(h >>> topShift) + 1]!++
  }
  return at
}

function generateKetama(plan: RingPlan, topShift: number): void {
  const { nodes, counts } = plan
  topCount.fill(0)
  let at = 0
  for (let i = 0; i < nodes.length; i++) {
    const vnodes = counts[i]! / 4
    for (let v = 0; v < vnodes; v++) {
      const d = md5String(`${nodes[i]!.id}-${v}`)
      for (let j = 0; j < 4; j++) {
        const point = d[j]! >>> 0
        rawPoints[at] = point
        rawOwners[at++] = i
        topCount[(point >>> topShift) + 1]!++
      }
    }
  }
}

/** Bits of the first (most significant) pass of the counting sort: 256 sequential output streams. */
const topBitsFor = (bits: number) => Math.min(bits, 8)

/**
 * Stable sort of the raw points into `points`/`owners`, filling the lookup index on the way. Points are
 * uniform, so a most-significant-digit counting sort does it in linear time: first by the top 8 bits
 * (their histogram is counted during generation) into 256 sequential streams, then each of those (a
 * few thousand points, cache-resident) by the rest of the index bits, whose prefix sums are the index;
 * then an insertion sort inside each index bucket (2–4 points), done per top bucket while it is in
 * cache. Every pass touches memory sequentially or within the cache.
 */
function sortPoints(
  total: number,
  bits: number,
  points: Uint32Array,
  owners: Uint16Array,
  index: Uint32Array,
): void {
  const topBits = topBitsFor(bits)
  const tops = 2 ** topBits
  const subs = 2 ** (bits - topBits)
  if (subCount.length < subs + 1) subCount = new Uint32Array(subs + 1)
  for (let t = 0; t < tops; t++) topCount[t + 1]! += topCount[t]!
  // One small function per pass: V8 optimizes each hot loop on its own instead of deoptimizing a
  // big on-stack-replaced function every time control leaves one loop for the next.
  scatterTop(rawPoints, rawOwners, midPoints, midOwners, total, 32 - topBits, topCount, topCursor, tops)
  for (let t = 0; t < tops; t++) {
    sortTop(
      midPoints,
      midOwners,
      topCount[t]!,
      topCount[t + 1]!,
      points,
      owners,
      index,
      t * subs,
      32 - bits,
      subs,
      subCount,
    )
  }
  index[tops * subs] = total
}

function scatterTop(
  raw: Uint32Array,
  rawO: Uint16Array,
  mid: Uint32Array,
  midO: Uint16Array,
  total: number,
  shift: number,
  start: Uint32Array,
  cursor: Uint32Array,
  tops: number,
): void {
  for (let t = 0; t < tops; t++) cursor[t] = start[t]!
  for (let i = 0; i < total; i++) {
    const point = raw[i]!
    const at = cursor[point >>> shift]!++
    mid[at] = point
    midO[at] = rawO[i]!
  }
}

/** Distributes mid[start, end) (one top bucket) over its index buckets, writing their starts into the index. */
function sortTop(
  mid: Uint32Array,
  midO: Uint16Array,
  start: number,
  end: number,
  points: Uint32Array,
  owners: Uint16Array,
  index: Uint32Array,
  first: number,
  shift: number,
  subs: number,
  cursor: Uint32Array,
): void {
  const mask = subs - 1
  cursor.fill(0, 0, subs + 1)
  for (let i = start; i < end; i++) cursor[((mid[i]! >>> shift) & mask) + 1]!++
  cursor[0] = start
  for (let u = 0; u < subs; u++) {
    cursor[u + 1]! += cursor[u]!
    index[first + u] = cursor[u]!
  }
  for (let i = start; i < end; i++) {
    const point = mid[i]!
    const at = cursor[(point >>> shift) & mask]!++
    points[at] = point
    owners[at] = midO[i]!
  }
  // The range is now ordered by index bucket, so one pass of insertion sort over all of it (while it is
  // in cache) only moves points within their bucket of 2–4.
  insertionSort(points, owners, start, end)
}

/** Stable: equal points keep their generation order, which is the documented tie order. */
function insertionSort(points: Uint32Array, owners: Uint16Array, start: number, end: number): void {
  for (let i = start + 1; i < end; i++) {
    const point = points[i]!
    if (points[i - 1]! <= point) continue
    const owner = owners[i]!
    let k = i - 1
    for (; k >= start && points[k]! > point; k--) {
      points[k + 1] = points[k]!
      owners[k + 1] = owners[k]!
    }
    points[k + 1] = point
    owners[k + 1] = owner
  }
}

/** The version being replaced, as the writer sees it: its nodes and its sorted points. */
export interface PreviousRing {
  readonly nodes: readonly RingNode[]
  readonly points: Uint32Array
  readonly owners: Uint16Array
}

/** Owner of a point whose node is gone (node indices stop at MAX_NODES − 1). */
const DROPPED = 0xffff
/**
 * An incremental build (keep the previous version's sorted points, merge in the new nodes' points) is
 * used while the nodes to generate hold at most this share of the points; beyond it, generating and
 * sorting everything costs about the same.
 */
const MERGE_MAX_NEW = 0.25

/**
 * How to derive `plan` from `previous` ('default' only): `remap[j]` is the new index of previous node
 * j, or DROPPED; `added` lists the nodes whose points must be generated (new ids, changed weights).
 * Undefined when a full build is cheaper. A node keeps its points iff its id and weight are unchanged:
 * they depend on nothing else.
 */
function planMerge(
  plan: RingPlan,
  previous: PreviousRing,
): { remap: Uint16Array; added: number[] } | undefined {
  const { nodes, counts } = plan
  const fresh = new Map(nodes.map((n, i) => [n.id, i]))
  const remap = new Uint16Array(previous.nodes.length).fill(DROPPED)
  const kept = new Uint8Array(nodes.length)
  previous.nodes.forEach((n, j) => {
    const i = fresh.get(n.id)
    if (i !== undefined && nodes[i]!.weight === n.weight) {
      remap[j] = i
      kept[i] = 1
    }
  })
  const added: number[] = []
  let addedPoints = 0
  for (let i = 0; i < nodes.length; i++) {
    if (kept[i]) continue
    added.push(i)
    addedPoints += counts[i]!
  }
  return addedPoints <= plan.total * MERGE_MAX_NEW ? { remap, added } : undefined
}

/**
 * The added nodes' points, sorted as the full build orders them: by point, equal points by id. They
 * are few, so a native sort of point × 2^16 + (rank of the node's id), exact in a Float64, does it.
 */
function sortAdded(plan: RingPlan, added: number[]): { points: Uint32Array; owners: Uint16Array } {
  const order = byId(plan.nodes, added)
  const counts = order.map((i) => plan.counts[i]!)
  const mix = pointMixes(Math.max(0, ...counts))
  const keys = new Float64Array(counts.reduce((a, b) => a + b, 0))
  let at = 0
  order.forEach((i, rank) => {
    const seed = xxh32String(plan.nodes[i]!.id)
    for (let k = 0; k < counts[rank]!; k++) keys[at++] = fmix32(seed ^ mix[k]!) * 65536 + rank
  })
  keys.sort()
  const points = new Uint32Array(keys.length)
  const owners = new Uint16Array(keys.length)
  for (let j = 0; j < keys.length; j++) {
    const key = keys[j]!
    points[j] = Math.floor(key / 65536)
    owners[j] = order[key % 65536]!
  }
  return { points, owners }
}

/**
 * Merges the previous version's points (minus the dropped nodes', owners renumbered) with the sorted
 * added points, and fills the index, in one sequential pass. Ties: the previous points are already in
 * id order among themselves and so are the added ones; across the two, ids are compared.
 */
function mergePoints(
  previous: PreviousRing,
  remap: Uint16Array,
  add: { points: Uint32Array; owners: Uint16Array },
  nodes: readonly RingNode[],
  out: { points: Uint32Array; owners: Uint16Array; index: Uint32Array; bits: number },
): void {
  const { points: oldPoints, owners: oldOwners } = previous
  const { points: addPoints, owners: addOwners } = add
  const { points, owners, index } = out
  const shift = 32 - out.bits
  const oldCount = oldPoints.length
  const addCount = addPoints.length
  let j = 0
  let nextAdd = addCount > 0 ? addPoints[0]! : 2 ** 32 // above every point once the added ones are used up
  let at = 0
  let bucket = 0 // index entries below this one are filled
  for (let i = 0; i < oldCount; i++) {
    const owner = remap[oldOwners[i]!]!
    if (owner === DROPPED) continue
    const point = oldPoints[i]!
    if (point >= nextAdd) {
      // Once per added point: emit the added points that sort first.
      while (j < addCount && precedes(addPoints[j]!, addOwners[j]!, point, owner, nodes)) {
        const added = addPoints[j]!
        for (const top = added >>> shift; bucket <= top; ) index[bucket++] = at
        points[at] = added
        owners[at++] = addOwners[j++]!
      }
      nextAdd = j < addCount ? addPoints[j]! : 2 ** 32
    }
    for (const top = point >>> shift; bucket <= top; ) index[bucket++] = at
    points[at] = point
    owners[at++] = owner
  }
  for (; j < addCount; j++) {
    const added = addPoints[j]!
    for (const top = added >>> shift; bucket <= top; ) index[bucket++] = at
    points[at] = added
    owners[at++] = addOwners[j]!
  }
  while (bucket < index.length) index[bucket++] = at
}

/** The full build's order: by point, equal points by node id. */
function precedes(
  point: number,
  owner: number,
  than: number,
  thanOwner: number,
  nodes: readonly RingNode[],
): boolean {
  return point < than || (point === than && nodes[owner]!.id < nodes[thanOwner]!.id)
}

/**
 * Writes the payload of `plan` at `offset` of `bytes` (a view of the whole SharedArrayBuffer). Given
 * `previous` (the version being replaced, in the other buffer), a 'default' ring whose nodes mostly
 * stayed is merged from it instead of generated and sorted again, with byte for byte the same result.
 */
export function writeRing(plan: RingPlan, bytes: Uint8Array, offset: number, previous?: PreviousRing): void {
  const { total, bits, layout, nodes } = plan
  const buffer = bytes.buffer
  const base = bytes.byteOffset + offset
  const header = new Uint32Array(buffer, base, 8)
  header[ALGORITHM] = plan.algorithm === 'default' ? 0 : 1
  header[NODES] = nodes.length
  header[POINTS] = total
  header[INDEX_BITS] = bits
  header[ID_BYTES] = plan.ids.length
  const points = new Uint32Array(buffer, base + layout.points, total)
  const owners = new Uint16Array(buffer, base + layout.owners, total)
  const index = new Uint32Array(buffer, base + layout.index, 2 ** bits + 1)
  const merge = plan.algorithm === 'default' && previous ? planMerge(plan, previous) : undefined
  if (merge) {
    mergePoints(previous!, merge.remap, sortAdded(plan, merge.added), nodes, { points, owners, index, bits })
  } else {
    if (rawPoints.length < total) {
      rawPoints = new Uint32Array(total)
      rawOwners = new Uint16Array(total)
      midPoints = new Uint32Array(total)
      midOwners = new Uint16Array(total)
    }
    const topShift = 32 - topBitsFor(bits)
    if (plan.algorithm === 'default') generateDefault(plan, topShift)
    else generateKetama(plan, topShift)
    sortPoints(total, bits, points, owners, index)
  }
  const weights = new Float64Array(buffer, base + layout.weights, nodes.length)
  const idEnds = new Uint32Array(buffer, base + layout.idEnds, nodes.length)
  for (let i = 0; i < nodes.length; i++) {
    weights[i] = nodes[i]!.weight
    idEnds[i] = plan.idEnds[i]!
  }
  bytes.set(plan.ids, base + layout.ids - bytes.byteOffset)
}
