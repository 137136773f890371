/*
 * A consistent-hash ring in a SharedSnapshot: the owner thread builds each version in the idle buffer
 * and publishes it atomically; every thread looks keys up in place, without locks or copies. Memory
 * layout: ./layout.ts (the double-buffered seqlock: writers, Atomics and why) and ./ring-layout.ts
 * (the ring's payload inside each buffer). The algorithms are described in ./ring-build.ts.
 *
 * A lookup is: hash the key (XXH32 straight from charCodeAt for ASCII keys, or MD5), a load in the
 * bucket index, a binary search over ~3 points of the per-thread view of the last version seen, the
 * seqlock's fast check (one Atomics.load of STARTED, layout.ts step 3'), and the owner's id from a
 * table decoded once per version. Only after a publish does it load PUBLISHED and decode the new
 * version. It allocates nothing.
 */
import {
  checkHandle,
  choiceOption,
  InvalidOptionError,
  integerOption,
  nameOption,
  numberOption,
  objectOption,
  ReadOnlyError,
  type SharedHandle,
} from '@beamline/core'
import { DoubleBuffer } from './double-buffer.js'
import { RingEmptyError, SnapshotTooLargeError } from './errors.js'
import { LAYOUT_VERSION, MAX_CAPACITY, PUBLISHED } from './layout.js'
import { md5String } from './md5.js'
import { planRing, type RingNode, writeRing } from './ring-build.js'
import {
  ALGORITHMS,
  type Algorithm,
  ID_BYTES,
  INDEX_BITS,
  MAX_NODES,
  NODES,
  POINTS,
  ringLayout,
} from './ring-layout.js'
import { xxh32String } from './xxh32.js'

export type { RingNode } from './ring-build.js'

const HANDLE_KIND = 'beamline.hashring'

/** A node: its id (weight 1), or `{ id, weight }`. */
export type RingNodeInput = string | { readonly id: string; readonly weight?: number }

export interface HashRingOptions {
  /**
   * Initial nodes: ids, or `{ id, weight }`. Ids are non-empty strings of at most 1024 UTF-8 bytes,
   * unique; weights finite and > 0, default 1. At most 65535 nodes. Default: none (an empty ring, on
   * which only `get`/`getN` throw).
   */
  nodes?: readonly RingNodeInput[]
  /**
   * `'default'`: XXH32 points, `points` per unit of weight, each key to its nearest point; balanced
   * within 10% with 100 nodes, moves only the keys it must. `'ketama'`: exactly the node `hashring@3` (default options) picks, for
   * migrating from it. Default `'default'`.
   */
  algorithm?: Algorithm
  /**
   * `'default'` only: points per unit of weight; a node gets round(points × weight), at least 1. More
   * points balance better (max/mean load ≈ 1 + 1.8/√points with 100 nodes: 1.08 at 500) and cost
   * about 7.3 bytes each and build time. Integer from 1 to 65536. Default 500.
   */
  points?: number
  /**
   * Largest ring snapshot in bytes (two buffers are reserved; the OS commits pages as they are first
   * written). About 7.3 bytes per point plus the ids: 16 MiB holds some 4500 nodes at 500 points.
   * A bigger ring throws `ERR_BEAMLINE_SNAPSHOT_TOO_LARGE` and the old one stays. Integer from 1 KiB
   * to 2^30. Default 16 MiB.
   */
  maxBytes?: number
}

/** Plain data plus the buffer: survives `structuredClone`, so send it through `workerData` or `postMessage`. */
export interface HashRingHandle extends SharedHandle<typeof HANDLE_KIND> {
  readonly buffer: SharedArrayBuffer
  readonly algorithm: Algorithm
}

/** One version of the ring, as this thread sees it: typed views over its buffer and the decoded node table. */
class RingView {
  constructor(
    /** The publish number this view was validated for; -1 for the placeholder. */
    readonly p: number,
    readonly version: number,
    readonly count: number,
    readonly points: Uint32Array,
    readonly owners: Uint16Array,
    readonly index: Uint32Array,
    readonly shift: number,
    readonly ids: readonly string[],
    readonly nodes: readonly RingNode[],
    readonly bytes: number,
  ) {}

  /** Index of the first point ≥ h, wrapping to 0. Bounded even over torn data (the caller validates). */
  find(h: number): number {
    const { index, points, count } = this
    const j = h >>> this.shift
    let lo = index[j]!
    let hi = Math.min(index[j + 1]!, count)
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (points[mid]! < h) lo = mid + 1
      else hi = mid
    }
    return lo < count ? lo : 0
  }

  /** Index of the first of the points at the smallest circular distance from h ('default'); the successor on equal distance. */
  nearest(h: number): number {
    const { points, count } = this
    const next = this.find(h)
    let prev = (next === 0 ? count : next) - 1
    if ((h - points[prev]!) >>> 0 >= (points[next]! - h) >>> 0) return next
    while (prev > 0 && points[prev - 1] === points[prev]) prev--
    return prev
  }
}

const EMPTY = new Uint32Array(0)
const PLACEHOLDER = new RingView(-1, 0, 0, EMPTY, new Uint16Array(0), EMPTY, 31, [], [], 0)

/** Module-private: what `HashRing.attach()` hands the constructor. */
class Attach {
  constructor(readonly handle: HashRingHandle) {}
}

function toNodes(value: unknown, name: string): RingNode[] {
  if (!Array.isArray(value))
    throw new InvalidOptionError(name, 'must be an array of node ids or { id, weight } objects')
  if (value.length > MAX_NODES)
    throw new InvalidOptionError(name, `must hold at most ${MAX_NODES} nodes, got ${value.length}`)
  const seen = new Set<string>()
  return value.map((node: unknown, i) => {
    const valid = toNode(node, `${name}[${i}]`)
    if (seen.has(valid.id))
      throw new InvalidOptionError(`${name}[${i}]`, `duplicate node id ${JSON.stringify(valid.id)}`)
    seen.add(valid.id)
    return valid
  })
}

function toNode(node: unknown, name: string): RingNode {
  if (typeof node === 'string') return { id: nameOption(name, node, 1024), weight: 1 }
  if (typeof node !== 'object' || node === null)
    throw new InvalidOptionError(name, 'must be a node id or { id, weight }')
  const { id, weight } = node as { id?: unknown; weight?: unknown }
  return {
    id: nameOption(`${name}.id`, id, 1024),
    weight: numberOption(`${name}.weight`, weight, { min: 0, exclusiveMin: true }, 1),
  }
}

/**
 * A consistent-hash ring shared by every thread: `new HashRing(...)` in the owning thread,
 * `HashRing.attach(handle)` in workers. Changes publish a new version atomically; lookups in any
 * thread see either the old ring or the new one, never a mix.
 */
export class HashRing {
  readonly handle: HashRingHandle
  readonly algorithm: Algorithm
  readonly #db: DoubleBuffer
  readonly #header: Uint32Array
  readonly #ketama: boolean
  /** Points per unit of weight ('default'); undefined in attached rings, which never build. */
  readonly #points: number | undefined
  /** The owner's node list; undefined in attached rings. */
  #nodes: RingNode[] | undefined
  #view = PLACEHOLDER
  /** Per-thread marks for getN's distinct-node walk: #seen[i] === #epoch means node i was taken. */
  #seen = new Uint32Array(0)
  #epoch = 0

  constructor(options: HashRingOptions | Attach = {}) {
    if (options instanceof Attach) {
      this.#db = DoubleBuffer.attach(HANDLE_KIND, options.handle.buffer)
      this.algorithm = choiceOption('handle.algorithm', options.handle.algorithm, ALGORITHMS)
    } else {
      objectOption('options', options, {})
      this.algorithm = choiceOption('algorithm', options.algorithm, ALGORITHMS, 'default')
      if (this.algorithm === 'ketama' && options.points !== undefined) {
        throw new InvalidOptionError(
          'points',
          "applies to the 'default' algorithm only; ketama uses hashring's 40 × 4 points per node",
        )
      }
      this.#points = integerOption('points', options.points, 1, 65536, 500)
      const maxBytes = integerOption('maxBytes', options.maxBytes, 1024, MAX_CAPACITY, 16 << 20)
      const nodes = toNodes(options.nodes ?? [], 'nodes')
      const plan = this.#plan(nodes, maxBytes)
      this.#db = DoubleBuffer.create(maxBytes, plan.layout.bytes, (bytes, offset) =>
        writeRing(plan, bytes, offset),
      )
      this.#nodes = nodes
    }
    this.#header = this.#db.header
    this.#ketama = this.algorithm === 'ketama'
    this.handle = {
      kind: HANDLE_KIND,
      version: LAYOUT_VERSION,
      buffer: this.#db.sab,
      algorithm: this.algorithm,
    }
  }

  /** The same ring, read-only, seen from this thread. Throws `ERR_BEAMLINE_INVALID_HANDLE` for anything else. */
  static attach(handle: HashRingHandle): HashRing {
    const h = checkHandle<HashRingHandle>(handle, HANDLE_KIND, LAYOUT_VERSION)
    return new HashRing(new Attach(h))
  }

  /** Grows by one with every published change; 0 for the ring as constructed. */
  get version(): number {
    return this.#current().version
  }

  /** The nodes and weights of the current version, in the order they were given. Frozen; the same array while unchanged. */
  get nodes(): ReadonlyArray<{ id: string; weight: number }> {
    return this.#current().nodes
  }

  /** Bytes of the current version's snapshot (points, owners, index and node table). */
  get byteLength(): number {
    return this.#current().bytes
  }

  /** The node owning `key`. Throws `ERR_BEAMLINE_RING_EMPTY` on an empty ring. */
  get(key: string): string {
    const h = this.#hash(key)
    // Fast path: this thread's view of the last version it saw; valid iff no publish began since.
    const view = this.#view
    if (view.count !== 0) {
      const owner = view.owners[this.#ketama ? view.find(h) : view.nearest(h)]!
      if (this.#db.unchanged(view.p)) return view.ids[owner]!
    }
    for (;;) {
      const current = this.#current()
      if (current.count === 0) throw new RingEmptyError()
      const owner = current.owners[this.#ketama ? current.find(h) : current.nearest(h)]!
      if (this.#db.intact(current.p)) return current.ids[owner]!
    }
  }

  /**
   * Up to `n` distinct nodes for `key`, starting with `get(key)`: the replicas. Fewer when the ring has
   * fewer nodes. `n` is an integer ≥ 0. 'default' orders nodes by the distance of their nearest point
   * from the key's hash, so that getN(key, n)[1] is the node that takes the key over if the first is
   * removed; 'ketama' walks clockwise from the key, exactly hashring's `range(key, n)`.
   */
  getN(key: string, n: number): string[] {
    integerOption('n', n, 0, Number.MAX_SAFE_INTEGER)
    const h = this.#hash(key)
    const taken: number[] = []
    for (;;) {
      const view = this.#current()
      if (view.count === 0) throw new RingEmptyError()
      taken.length = 0
      const want = Math.min(n, view.ids.length)
      if (this.#seen.length < view.ids.length) this.#seen = new Uint32Array(view.ids.length)
      const seen = this.#seen
      const epoch = (this.#epoch = (this.#epoch + 1) >>> 0 || 1)
      const { owners, points, count } = view
      const take = (i: number) => {
        const owner = owners[i]!
        if (owner < seen.length && seen[owner] !== epoch) {
          seen[owner] = epoch
          taken.push(owner)
        }
      }
      if (this.#ketama) {
        // hashring's range(): clockwise from the successor.
        const start = view.find(h)
        for (let step = 0; step < count && taken.length < want; step++)
          take(start + step < count ? start + step : start + step - count)
      } else {
        // By distance from h, as get() picks: each node in the order it would take over the key if
        // those before it were removed. cw/ccw walk outwards; runs of equal points go in table order.
        let cw = view.find(h)
        let ccw = (cw === 0 ? count : cw) - 1
        for (let visited = 0; visited < count && taken.length < want; ) {
          if ((h - points[ccw]!) >>> 0 < (points[cw]! - h) >>> 0) {
            let first = ccw
            while (first > 0 && points[first - 1] === points[ccw] && visited + ccw - first + 1 < count)
              first--
            for (let i = first; i <= ccw; i++) take(i)
            visited += ccw - first + 1
            ccw = (first === 0 ? count : first) - 1
          } else {
            take(cw)
            visited++
            cw = cw + 1 < count ? cw + 1 : 0
          }
        }
      }
      if (this.#db.intact(view.p)) return taken.map((owner) => view.ids[owner]!)
    }
  }

  /** Adds a node (id, or `{ id, weight }`) and publishes the new ring. A duplicate id throws `ERR_BEAMLINE_INVALID_OPTION`. */
  add(node: RingNodeInput): void {
    const nodes = this.#owned()
    const added = toNode(node, 'node')
    if (nodes.length >= MAX_NODES)
      throw new InvalidOptionError('node', `the ring already holds ${MAX_NODES} nodes, the most it can`)
    if (nodes.some((n) => n.id === added.id))
      throw new InvalidOptionError('node', `duplicate node id ${JSON.stringify(added.id)}`)
    this.#publish([...nodes, added])
  }

  /** Removes the node with this id and publishes the new ring; returns false (publishing nothing) if there was none. */
  remove(id: string): boolean {
    const nodes = this.#owned()
    const next = nodes.filter((n) => n.id !== id)
    if (next.length === nodes.length) return false
    this.#publish(next)
    return true
  }

  /** Replaces all nodes at once (one new version). */
  set(nodes: readonly RingNodeInput[]): void {
    this.#owned()
    this.#publish(toNodes(nodes, 'nodes'))
  }

  #owned(): RingNode[] {
    if (this.#nodes === undefined) {
      throw new ReadOnlyError(
        'HashRing: an attached ring is read-only; change nodes in the thread that created it',
      )
    }
    return this.#nodes
  }

  #plan(nodes: readonly RingNode[], maxBytes: number) {
    const plan = planRing(this.algorithm, nodes, this.#points!)
    if (plan.layout.bytes > maxBytes)
      throw new SnapshotTooLargeError(
        `a ring of ${nodes.length} nodes (${plan.total} points)`,
        plan.layout.bytes,
        maxBytes,
      )
    return plan
  }

  #publish(nodes: RingNode[]): void {
    const plan = this.#plan(nodes, this.#db.maxBytes)
    // The current version lives in the other buffer, which only this thread writes: the build may
    // start from it.
    const previous = this.#current()
    this.#db.publish(plan.layout.bytes, (bytes, offset) => writeRing(plan, bytes, offset, previous))
    this.#nodes = nodes
  }

  #hash(key: string): number {
    if (typeof key !== 'string') throw new InvalidOptionError('key', `must be a string, got ${typeof key}`)
    return this.#ketama ? md5String(key)[0]! >>> 0 : xxh32String(key)
  }

  #current(): RingView {
    return Atomics.load(this.#header, PUBLISHED) === this.#view.p ? this.#view : this.#load()
  }

  /** Builds and caches a validated view of the current version (decodes the node table once per version). */
  #load(): RingView {
    const db = this.#db
    for (;;) {
      const p = db.published()
      const b = p & 1
      const base = db.dataOffset(b)
      const length = db.length(b)
      const header = new Uint32Array(db.sab, base, 8)
      const nodeCount = Math.min(header[NODES]!, MAX_NODES)
      const count = header[POINTS]!
      const bits = Math.min(Math.max(header[INDEX_BITS]!, 1), 24)
      const idBytes = header[ID_BYTES]!
      const layout = ringLayout(nodeCount, count, bits, idBytes)
      if (layout.bytes !== length) {
        if (db.intact(p)) throw new Error('HashRing: corrupt snapshot (layout does not match its length)')
        continue
      }
      const { sab } = db
      const idEnds = new Uint32Array(sab, base + layout.idEnds, nodeCount)
      const weights = new Float64Array(sab, base + layout.weights, nodeCount)
      const raw = Buffer.from(sab, base + layout.ids, idBytes)
      const ids: string[] = []
      const nodes: RingNode[] = []
      for (let i = 0, start = 0; i < nodeCount; i++) {
        const end = Math.min(Math.max(idEnds[i]!, start), idBytes)
        const id = raw.toString('utf8', start, end)
        ids.push(id)
        nodes.push(Object.freeze({ id, weight: weights[i]! }))
        start = end
      }
      const view = new RingView(
        p,
        db.version(b),
        count,
        new Uint32Array(sab, base + layout.points, count),
        new Uint16Array(sab, base + layout.owners, count),
        new Uint32Array(sab, base + layout.index, 2 ** bits + 1),
        32 - bits,
        Object.freeze(ids),
        Object.freeze(nodes),
        length,
      )
      if (!db.intact(p)) continue
      this.#view = view
      return view
    }
  }
}
