/**
 * @beamline/ring against the usual answers, in one run: hashring@3 cached and uncached, asking the
 * owning thread over postMessage, and a plain Map (the floor: a lookup that hashes nothing).
 */
import { Worker } from 'node:worker_threads'
import { measureCases, medianMs, printTable, reportTarget } from '@beamline/bench-kit'
import HashRingPeer from 'hashring'
import { HashRing, SharedValue } from '../src/index.js'

const ids = Array.from({ length: 100 }, (_, i) => `10.0.0.${i}:11211`)
// 20-character keys.
const keys = Array.from({ length: 4096 }, (_, i) => `session:${String(i * 7919).padStart(12, '0')}`)
const ring = new HashRing({ nodes: ids })
const ketama = new HashRing({ nodes: ids, algorithm: 'ketama' })
const peer = new HashRingPeer(ids)
const peerUncached = new HashRingPeer(ids, 'md5', { 'max cache size': 1 })
const map = new Map(keys.map((k) => [k, ring.get(k)]))
const hot = keys.slice(0, 1000)

async function inWorker(): Promise<number> {
  const worker = new Worker(new URL('./fixtures/worker.js', import.meta.url), {
    workerData: { mode: 'measure', handle: ring.handle, keys },
  })
  const ns = await new Promise<number>((resolve) => worker.once('message', resolve))
  await worker.terminate()
  return ns
}

async function postMessageRoundTrip(): Promise<number> {
  const worker = new Worker(new URL('./fixtures/worker.js', import.meta.url), {
    workerData: { mode: 'serve', handle: ring.handle, keys },
  })
  const ask = (key: string) =>
    new Promise<string>((resolve) => {
      worker.once('message', resolve)
      worker.postMessage(key)
    })
  for (let i = 0; i < 200; i++) await ask(keys[i]!)
  const n = 2000
  const ms = await medianMs(async () => {
    for (let i = 0; i < n; i++) await ask(keys[i & 4095]!)
  }, 3)
  await worker.terminate()
  return (ms * 1e6) / n
}

let i = 0
const rows = await measureCases([
  { name: 'Map.get (no hashing)', fn: () => map.get(keys[i++ & 4095]!) },
  { name: 'beamline ring.get (default)', fn: () => ring.get(keys[i++ & 4095]!) },
  { name: 'beamline ring.get (ketama)', fn: () => ketama.get(keys[i++ & 4095]!) },
  { name: 'beamline ring.getN(key, 3)', fn: () => ring.getN(keys[i++ & 4095]!, 3) },
  { name: 'hashring@3 get, cached', fn: () => peer.get(hot[i++ % 1000]!) },
  { name: 'hashring@3 get, uncached', fn: () => peerUncached.get(keys[i++ & 4095]!) },
])
const workerNs = await inWorker()
rows.push({ name: 'beamline ring.get from a worker', value: workerNs, unit: 'ns/op' })
rows.push({ name: 'postMessage round trip to owner', value: await postMessageRoundTrip(), unit: 'ns/op' })
const ratios = printTable('ring lookups, 100 nodes, 20-character keys', rows, 'hashring@3 get, uncached')
const uncached = rows.find((r) => r.name === 'hashring@3 get, uncached')!.value
reportTarget('ring.get from a worker ≤ 150 ns', workerNs <= 150, `${workerNs.toFixed(1)} ns`)
reportTarget(
  '≥ 25× faster than uncached hashring',
  uncached / workerNs >= 25,
  `${(uncached / workerNs).toFixed(1)}× (${ratios.size} rows)`,
)

// The seed's workload: 500k sessions × 5 guilds = 2.5M lookups, one thread.
const guilds = Array.from({ length: 500_000 }, (_, s) => `guild:${(s * 2654435761) % 1_000_003}`)
const seedMs = await medianMs(() => {
  let sink = 0
  for (let s = 0; s < 500_000; s++)
    for (let g = 0; g < 5; g++) sink += ring.get(guilds[(s + g * 99_991) % 500_000]!).length
  return sink
}, 3)
const peerMs =
  (await medianMs(() => {
    for (let s = 0; s < 50_000; s++)
      for (let g = 0; g < 5; g++) peerUncached.get(guilds[(s + g * 99_991) % 500_000]!)
  }, 1)) * 10
printTable(
  'seed workload: 2.5M lookups (500k sessions × 5 guilds)',
  [
    { name: 'beamline ring.get', value: seedMs, unit: 'ms' },
    { name: 'hashring@3 uncached', value: peerMs, unit: 'ms', note: 'measured on 250k lookups, ×10' },
  ],
  'beamline ring.get',
)
reportTarget('2.5M lookups ≤ 500 ms', seedMs <= 500, `${seedMs.toFixed(0)} ms`)

// SharedValue.get unchanged, against reading a plain global object.
const flags = new SharedValue({ initial: { rollout: 0.1 } })
const plain = { rollout: 0.1 }
const valueRows = await measureCases([
  { name: 'plain object property', fn: () => plain.rollout },
  { name: 'SharedValue.get() unchanged', fn: () => flags.get().rollout },
])
printTable('read-mostly global', valueRows, 'plain object property')
const getNs = valueRows[1]!.value
reportTarget('SharedValue.get ≤ 20 ns', getNs <= 20, `${getNs.toFixed(1)} ns`)

// Building and publishing a 1000-node ring, and its memory.
const thousand = (shift: number) => Array.from({ length: 1000 }, (_, n) => `node-${n + shift}`)
const big = new HashRing({ nodes: thousand(0) })
let shift = 0
// A shifted list: one node out, one in (the usual membership change; built incrementally) …
const setMs = await medianMs(() => big.set(thousand(++shift)), 9)
// … and 1000 nodes none of which was on the ring (every point generated and sorted).
const fullSetMs = await medianMs(() => big.set(thousand((shift += 1000))), 9)
const ketamaBig = new HashRing({ nodes: thousand(0), algorithm: 'ketama' })
const ketamaSetMs = await medianMs(() => ketamaBig.set(thousand(++shift)), 5)
const peerBuildMs = await medianMs(() => new HashRingPeer(thousand(++shift)), 5)
printTable(
  'build and publish 1000 nodes',
  [
    { name: "beamline ring.set ('default'), 1 of 1000 replaced", value: setMs, unit: 'ms' },
    { name: "beamline ring.set ('default'), 1000 new nodes", value: fullSetMs, unit: 'ms' },
    { name: 'beamline ring.set (ketama)', value: ketamaSetMs, unit: 'ms' },
    { name: 'new hashring@3 (1000 nodes)', value: peerBuildMs, unit: 'ms' },
  ],
  'new hashring@3 (1000 nodes)',
)
reportTarget('ring.set of 1000 nodes (1 replaced) ≤ 10 ms', setMs <= 10, `${setMs.toFixed(1)} ms`)
reportTarget('ring.set of 1000 new nodes ≤ 10 ms', fullSetMs <= 10, `${fullSetMs.toFixed(1)} ms`)
console.log(
  `memory, 1000-node 'default' ring: ${(big.byteLength / 2 ** 20).toFixed(2)} MiB per version (${big.nodes.length * 500} points), ` +
    `${(big.handle.buffer.byteLength / 2 ** 20).toFixed(1)} MiB reserved (2 buffers of maxBytes, committed as written); ` +
    `ketama: ${(ketamaBig.byteLength / 2 ** 20).toFixed(2)} MiB per version`,
)
