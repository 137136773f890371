import assert from 'node:assert/strict'
import { test } from 'node:test'
import HashRingPeer from 'hashring'
import { DoubleBuffer } from '../src/double-buffer.js'
import { HashRing } from '../src/index.js'
import { ID_BYTES, INDEX_BITS, NODES, POINTS, ringLayout } from '../src/ring-layout.js'
import { fmix32, xxh32String, xxh32Uint32 } from '../src/xxh32.js'

const keys = (n: number, prefix = 'key') => Array.from({ length: n }, (_, i) => `${prefix}:${i}`)

function assertCode(fn: () => unknown, code: string) {
  assert.throws(fn, (err: { code?: string }) => err.code === code)
}

test('ketama gives exactly hashring@3: get and getN/range, 10 and 100 nodes, with and without weights', () => {
  for (const count of [10, 100]) {
    const ids = Array.from({ length: count }, (_, i) => `10.0.${i >> 8}.${i & 255}:11211`)
    const weighted = Object.fromEntries(ids.map((id, i) => [id, { weight: 1 + (i % 4) }]))
    const cases = [
      { ours: new HashRing({ nodes: ids, algorithm: 'ketama' }), peer: new HashRingPeer(ids) },
      {
        ours: new HashRing({ nodes: ids.map((id, i) => ({ id, weight: 1 + (i % 4) })), algorithm: 'ketama' }),
        peer: new HashRingPeer(weighted),
      },
    ]
    for (const { ours, peer } of cases) {
      for (const key of keys(5000, `user-${count}`)) {
        assert.equal(ours.get(key), peer.get(key), key)
        assert.deepEqual(ours.getN(key, 3), peer.range(key, 3), key)
      }
      // After a change too (hashring rebuilds from its server list; so do we).
      ours.remove(ids[3]!)
      peer.remove(ids[3]!)
      for (const key of keys(2000, 'after')) assert.equal(ours.get(key), peer.get(key), key)
    }
  }
})

test('ketama hashes non-ASCII keys as UTF-8, as hashring does', () => {
  const ids = ['a', 'b', 'c', 'd']
  const ours = new HashRing({ nodes: ids, algorithm: 'ketama' })
  const peer = new HashRingPeer(ids)
  for (const key of ['é', '日本', '😀 emoji', 'mixed-ключ-42']) assert.equal(ours.get(key), peer.get(key))
})

test("'default': 100 nodes, 1M keys: max/mean ≤ 1.10; removing or adding a node moves only its keys, ≤ 1.3%", () => {
  const ids = Array.from({ length: 100 }, (_, i) => `node-${i}`)
  const ring = new HashRing({ nodes: ids })
  const n = 1_000_000
  const before = new Array<string>(n)
  const load = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const node = ring.get(`user:${i}`)
    before[i] = node
    load.set(node, (load.get(node) ?? 0) + 1)
  }
  const ratio = Math.max(...load.values()) / (n / ids.length)
  assert.ok(ratio <= 1.1, `max/mean ${ratio}`)

  ring.remove('node-42')
  let moved = 0
  for (let i = 0; i < n; i++) {
    const node = ring.get(`user:${i}`)
    if (node !== before[i]) {
      moved++
      assert.equal(before[i], 'node-42', `user:${i} moved from ${before[i]} to ${node}`)
    }
  }
  assert.equal(moved, load.get('node-42'))
  assert.ok(moved / n <= 0.013, `removal moved ${moved / n}`)

  ring.add('node-100')
  const afterRemove = new HashRing({ nodes: ids.filter((id) => id !== 'node-42') })
  moved = 0
  for (let i = 0; i < n; i++) {
    const was = afterRemove.get(`user:${i}`)
    const now = ring.get(`user:${i}`)
    if (now !== was) {
      moved++
      assert.equal(now, 'node-100')
    }
  }
  assert.ok(moved / n <= 0.013, `addition moved ${moved / n}`)
})

test("'default': weights scale load; getN returns distinct nodes, the first being get()", () => {
  const ring = new HashRing({ nodes: ['a', 'b', { id: 'c', weight: 2 }] })
  const load = new Map<string, number>()
  for (const key of keys(100_000)) {
    const node = ring.get(key)
    load.set(node, (load.get(node) ?? 0) + 1)
    const replicas = ring.getN(key, 2)
    assert.equal(replicas[0], node)
    assert.equal(new Set(replicas).size, 2)
  }
  const share = load.get('c')! / 100_000
  assert.ok(share > 0.45 && share < 0.55, `c has ${share}`)
  assert.deepEqual(ring.getN('k', 10).sort(), ['a', 'b', 'c'])
  assert.deepEqual(ring.getN('k', 0), [])
})

test("'default': getN(key, n)[1] is where the key goes when the first node is removed", () => {
  const ids = Array.from({ length: 20 }, (_, i) => `n${i}`)
  const ring = new HashRing({ nodes: ids })
  for (const key of keys(2000)) {
    const [first, second] = ring.getN(key, 2)
    const without = new HashRing({ nodes: ids.filter((id) => id !== first) })
    assert.equal(without.get(key), second, key)
  }
})

/** The current version's points, owners and index, exactly as published (incremental builds must equal full ones). */
function payload(ring: HashRing): { points: Uint32Array; owners: Uint16Array; index: Uint32Array } {
  const db = DoubleBuffer.attach('test', ring.handle.buffer)
  const base = db.dataOffset(db.published() & 1)
  const h = new Uint32Array(db.sab, base, 8)
  const layout = ringLayout(h[NODES]!, h[POINTS]!, h[INDEX_BITS]!, h[ID_BYTES]!)
  return {
    points: new Uint32Array(db.sab, base + layout.points, h[POINTS]!).slice(),
    owners: new Uint16Array(db.sab, base + layout.owners, h[POINTS]!).slice(),
    index: new Uint32Array(db.sab, base + layout.index, 2 ** h[INDEX_BITS]! + 1).slice(),
  }
}

test("'default': a ring changed by add/remove/set is byte for byte the ring built from scratch, ties included", () => {
  // 1000 nodes × 500 points: about 29 pairs of equal points are expected, so the tie order is exercised.
  const ids = Array.from({ length: 1000 }, (_, i) => `node-${i}`)
  const ring = new HashRing({ nodes: ids })
  const changes: [string, () => void][] = [
    ['set, one out and one in', () => ring.set([...ids.slice(1), 'node-1000'])],
    ['remove from the middle', () => ring.remove('node-500')],
    ['add with a weight', () => ring.add({ id: 'heavy', weight: 3 })],
    [
      'weight change',
      () => ring.set(ring.nodes.map((n) => (n.id === 'node-7' ? { id: n.id, weight: 2 } : n))),
    ],
    ['reorder', () => ring.set([...ring.nodes].reverse())],
    ['add a node that sorts first', () => ring.add('!first')],
    // Added nodes with a point equal to a kept node's, sorting before ('a…') and after ('z…') it.
    ['add a node tying a kept one, sorting first', () => ring.add(colliding('a'))],
    ['add a node tying a kept one, sorting last', () => ring.add(colliding('z'))],
    ['replace most nodes (full build)', () => ring.set(ids.map((id) => `${id}-b`))],
  ]
  /** An id starting with `prefix` one of whose 500 points equals a point already on the ring. */
  function colliding(prefix: string): string {
    const taken = new Set(payload(ring).points)
    for (let n = 0; ; n++) {
      const id = `${prefix}-${n}`
      const seed = xxh32String(id)
      for (let k = 0; k < 500; k++) if (taken.has(fmix32(seed ^ xxh32Uint32(k)))) return id
    }
  }
  let ties = 0
  for (const [name, change] of changes) {
    change()
    const fresh = new HashRing({ nodes: ring.nodes })
    const got = payload(ring)
    const want = payload(fresh)
    assert.deepEqual(got.points, want.points, name)
    assert.deepEqual(got.owners, want.owners, name)
    assert.deepEqual(got.index, want.index, name)
    for (let i = 1; i < want.points.length; i++) if (want.points[i] === want.points[i - 1]) ties++
    for (const key of keys(2000, name)) assert.equal(ring.get(key), fresh.get(key), key)
  }
  assert.ok(ties > 0, 'no equal points: the tie order was not exercised')
})

test('nodes, version and validation', () => {
  const ring = new HashRing()
  assert.equal(ring.version, 0)
  assert.deepEqual(ring.nodes, [])
  assertCode(() => ring.get('k'), 'ERR_BEAMLINE_RING_EMPTY')
  assertCode(() => ring.getN('k', 2), 'ERR_BEAMLINE_RING_EMPTY')
  ring.add('a')
  ring.add({ id: 'b', weight: 2.5 })
  assert.equal(ring.version, 2)
  assert.deepEqual(ring.nodes, [
    { id: 'a', weight: 1 },
    { id: 'b', weight: 2.5 },
  ])
  assert.equal(ring.remove('zzz'), false)
  assert.equal(ring.version, 2)
  assert.equal(ring.remove('a'), true)
  assert.equal(ring.get('anything'), 'b')
  for (const bad of [
    [''],
    ['x', 'x'],
    [{ id: 'x', weight: 0 }],
    [{ id: 'x', weight: -1 }],
    [{ id: 'x', weight: Number.NaN }],
    [{ id: 'x', weight: Infinity }],
    [42],
  ]) {
    assertCode(() => ring.set(bad as never), 'ERR_BEAMLINE_INVALID_OPTION')
    assertCode(() => new HashRing({ nodes: bad as never }), 'ERR_BEAMLINE_INVALID_OPTION')
  }
  assertCode(() => ring.add('b'), 'ERR_BEAMLINE_INVALID_OPTION')
  assertCode(() => new HashRing({ algorithm: 'maglev' as never }), 'ERR_BEAMLINE_INVALID_OPTION')
  assertCode(() => new HashRing({ algorithm: 'ketama', points: 10 }), 'ERR_BEAMLINE_INVALID_OPTION')
  assertCode(() => ring.get(42 as never), 'ERR_BEAMLINE_INVALID_OPTION')
  assert.equal(ring.version, 3, 'failed changes publish nothing')
})

test('a ring larger than maxBytes is refused and the old one stays readable', () => {
  const ring = new HashRing({ nodes: ['a', 'b'], maxBytes: 64 << 10 })
  const before = ring.get('k')
  assertCode(
    () => ring.set(Array.from({ length: 100 }, (_, i) => `n${i}`)),
    'ERR_BEAMLINE_SNAPSHOT_TOO_LARGE',
  )
  assert.equal(ring.get('k'), before)
  assert.equal(ring.version, 0)
  assert.deepEqual(
    ring.nodes.map((n) => n.id),
    ['a', 'b'],
  )
  ring.add('c')
  assert.equal(ring.nodes.length, 3)
})

test('attached rings read the same ring and refuse writes', () => {
  const ring = new HashRing({ nodes: ['a', 'b', 'c'] })
  const view = HashRing.attach(ring.handle)
  const clone = HashRing.attach(structuredClone(ring.handle))
  for (const key of keys(1000)) {
    assert.equal(view.get(key), ring.get(key))
    assert.deepEqual(clone.getN(key, 2), ring.getN(key, 2))
  }
  assertCode(() => view.add('d'), 'ERR_BEAMLINE_READ_ONLY')
  assertCode(() => view.remove('a'), 'ERR_BEAMLINE_READ_ONLY')
  assertCode(() => view.set([]), 'ERR_BEAMLINE_READ_ONLY')
  ring.remove('a')
  assert.equal(view.version, 1)
  assert.deepEqual(
    view.nodes.map((n) => n.id),
    ['b', 'c'],
  )
  assertCode(
    () => HashRing.attach({ kind: 'beamline.snapshot', version: 1 } as never),
    'ERR_BEAMLINE_INVALID_HANDLE',
  )
})
