/**
 * @beamline/fanout against what users would write instead, in one run (medians of interleaved runs):
 *  1. One 200-byte message to 30 000 recipients spread over 4 workers by a HashRing, timed from the
 *     send to the last delivery (every worker has handed it to each of its sessions): Manifold against
 *     (a) one postMessage per recipient, the naive port, and (b) one postMessage per worker carrying
 *     its recipient list (structured-cloned), the obvious Manifold port — each grouping by ring.get()
 *     per recipient, and (b) also with the owners precomputed, to compare the transports alone.
 *     Manifold is measured sending the array (grouped at each send, owners cached or not) and a
 *     RecipientGroup (a room's members, grouped once). Delivered = the worker's handler has the ids
 *     and the decoded message; per-session work after that is the same for every transport.
 *     Targets: ≤ 5 ms to the last delivery, ≥ 50× faster than (a), ≥ 3× faster than (b).
 *  2. Channel throughput between two threads, 64-byte frames, against postMessage of the same frames
 *     and against the floor: a bare single-producer ring (fixtures/floor-ring.ts) that only copies
 *     in, publishes, copies out and zeroes. Targets: ≥ 5 million frames/s and ≥ 10× postMessage.
 *  3. Memory per channel: exactly capacityBytes plus a fixed header.
 */
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { median, printTable, reportTarget } from '@beamline/bench-kit'
import { HashRing } from '@beamline/ring'
import { Channel, Manifold } from '../src/index.js'
import { createFloorRing, FloorRing } from './fixtures/floor-ring.js'

const RECIPIENTS = 30_000
const WORKERS = 4
const RUNS = 9
const workerUrl = new URL('./fixtures/fanout-worker.js', import.meta.url)

// ---- 1. fan-out to 30 000 recipients ----

const nodes = Array.from({ length: WORKERS }, (_, i) => `worker-${i}`)
const ring = new HashRing({ nodes })
const ids = Array.from({ length: RECIPIENTS }, (_, i) => `session:${(i * 2654435761) % 4294967291}`)
const message = {
  type: 'message',
  room: 'room:4242',
  author: 'user:81234',
  id: '1284712984712984',
  text: 'The quick brown fox jumps over the lazy dog; the five boxing wizards jump quickly and',
}
const messageBytes = Buffer.byteLength(JSON.stringify(message))
const channels = nodes.map((name) => new Channel({ name, capacityBytes: 4 << 20 }))
const manifold = new Manifold<typeof message, string>({ channels, owners: ring })
const changing = new Manifold<typeof message, string>({ channels, owners: ring })
const uncached = new Manifold<typeof message, string>({ channels, owners: ring, ownerCacheSize: 0 })
const done = new Int32Array(new SharedArrayBuffer(4))
const workers = nodes.map(
  (_, workerIndex) =>
    new Worker(workerUrl, {
      workerData: {
        mode: 'deliver',
        manifold: manifold.handle,
        ring: ring.handle,
        workerIndex,
        ids,
        done: done.buffer,
      },
    }),
)
await Promise.all(workers.map((w) => once(w, 'message')))
const workerOf = new Map(nodes.map((n, i) => [n, i]))
const ownerOf = new Map(ids.map((id) => [id, workerOf.get(ring.get(id))!]))

/** Milliseconds from `send()` to the moment every recipient has been delivered to. */
function toLastDelivery(send: () => void): number {
  Atomics.store(done, 0, 0)
  const start = performance.now()
  send()
  for (let seen = Atomics.load(done, 0); seen < RECIPIENTS; seen = Atomics.load(done, 0))
    Atomics.wait(done, 0, seen, 1000)
  return performance.now() - start
}

function groupByRing(): string[][] {
  const groups: string[][] = nodes.map(() => [])
  for (const id of ids) groups[workerOf.get(ring.get(id))!]!.push(id)
  return groups
}

/** (b): one postMessage per worker, its recipient list structured-cloned. */
function postLists(groups: string[][]): void {
  for (let w = 0; w < groups.length; w++) workers[w]!.postMessage({ ids: groups[w], message })
}

const room = manifold.group(ids)
const groupedOnce = groupByRing()
// The same recipients in another order: a send that alternates between the two never repeats the
// list it sent last, so it finds each owner in the cache and encodes the ids anew.
const rotated = [...ids.slice(1), ids[0]!]
let turn = 0
const MANIFOLD_GROUP = 'Manifold.send(group)'
const MANIFOLD_ARRAY = 'Manifold.send(ids), owners cached'
const MANIFOLD_NEW_LIST = 'Manifold.send(ids), a new list each send, owners cached'
const PORT_WORKER = '(b) postMessage per worker, ring.get per recipient'
const PORT_RECIPIENT = '(a) postMessage per recipient, ring.get'
const fanout = {
  [MANIFOLD_GROUP]: () => void manifold.send(room, message),
  [MANIFOLD_ARRAY]: () => void manifold.send(ids, message),
  [MANIFOLD_NEW_LIST]: () => void changing.send(turn++ % 2 === 0 ? rotated : ids, message),
  'Manifold.send(ids), no owner cache': () => void uncached.send(ids, message),
  [PORT_WORKER]: () => {
    postLists(groupByRing())
  },
  '(b) postMessage per worker, owners precomputed': () => {
    const groups: string[][] = nodes.map(() => [])
    for (const id of ids) groups[ownerOf.get(id)!]!.push(id)
    postLists(groups)
  },
  '(b) postMessage per worker, lists grouped once': () => {
    postLists(groupedOnce)
  },
  [PORT_RECIPIENT]: () => {
    for (const id of ids) workers[workerOf.get(ring.get(id))!]!.postMessage({ id, message })
  },
}
const samples = new Map<string, number[]>(Object.keys(fanout).map((k) => [k, []]))
const senderSide = { group: [] as number[], array: [] as number[] }
for (let run = -2; run < RUNS; run++) {
  for (const [name, send] of Object.entries(fanout)) {
    // (a) is ~100× slower than the rest: 3 runs of it are enough for a median.
    if (name === PORT_RECIPIENT && run >= 3) continue
    const ms = toLastDelivery(send)
    if (run >= 0) samples.get(name)!.push(ms)
  }
  if (run >= 0) {
    for (const [kind, recipients] of [
      ['group', room],
      ['array', ids],
    ] as const) {
      Atomics.store(done, 0, 0)
      const start = performance.now()
      void manifold.send(recipients, message)
      senderSide[kind].push(performance.now() - start)
      for (let seen = Atomics.load(done, 0); seen < RECIPIENTS; seen = Atomics.load(done, 0))
        Atomics.wait(done, 0, seen, 1000)
    }
  }
}
const fanoutRows = [...samples].map(([name, values]) => ({
  name,
  value: median(values),
  unit: 'ms',
  note: `runs ${values.map((v) => v.toFixed(2)).join(', ')}`,
}))
printTable(
  `one ${messageBytes}-byte message to ${RECIPIENTS} recipients over ${WORKERS} workers, to the last delivery`,
  fanoutRows,
  MANIFOLD_GROUP,
)
const ms = (name: string) => fanoutRows.find((r) => r.name === name)!.value
console.log(
  `Manifold.send() itself, sender side: group ${median(senderSide.group).toFixed(2)} ms, ids ${median(senderSide.array).toFixed(2)} ms (medians of ${RUNS})`,
)
// The floor of a send to a list not seen before, whatever carries it: each id's owner from a Map
// (the cache, as warm as it gets), the ids grouped, each worker's joined into one string to encode.
const floorSamples: number[] = []
for (let run = -2; run < RUNS; run++) {
  const start = performance.now()
  const groups: string[][] = nodes.map(() => [])
  for (const id of ids) groups[ownerOf.get(id)!]!.push(id)
  for (const group of groups) group.join('')
  if (run >= 0) floorSamples.push(performance.now() - start)
}
console.log(
  `floor of a new list, sender side: owner from a Map + grouping + a join per worker, ${median(floorSamples).toFixed(2)} ms (median of ${RUNS})`,
)
for (const [label, name] of [
  ['group', MANIFOLD_GROUP],
  ['ids', MANIFOLD_ARRAY],
  ['ids, a new list each send', MANIFOLD_NEW_LIST],
] as const) {
  const t = ms(name)
  reportTarget(`send(${label}) ≤ 5 ms to the last delivery`, t <= 5, `${t.toFixed(2)} ms`)
  const a = ms(PORT_RECIPIENT) / t
  reportTarget(
    `send(${label}) ≥ 50× faster than (a) one postMessage per recipient`,
    a >= 50,
    `${a.toFixed(1)}×`,
  )
  const b = ms(PORT_WORKER) / t
  reportTarget(`send(${label}) ≥ 3× faster than (b) one postMessage per worker`, b >= 3, `${b.toFixed(1)}×`)
}
await Promise.all(workers.map((w) => w.terminate()))

// ---- 2. throughput between two threads ----

/**
 * Frames per second through a Channel; the producer sends one by one (batch 1) or with trySendMany,
 * the consumer here drains batches (yielding when empty) or iterates.
 */
async function channelThroughput(
  frames: number,
  consumer: 'drain' | 'for-await',
  batch = 1,
): Promise<number> {
  const ch = new Channel({ name: 'throughput', capacityBytes: 1 << 20 })
  const worker = new Worker(workerUrl, {
    workerData: { mode: 'produce-channel', channel: ch.handle, frames, batch },
  })
  await once(worker, 'online')
  let received = 0
  const start = performance.now()
  if (consumer === 'drain') {
    while (received < frames) {
      const batch = ch.drain(4096)
      received += batch.length
      if (batch.length === 0) await new Promise((resolve) => setImmediate(resolve))
    }
  } else {
    for await (const _ of ch) if (++received === frames) break
  }
  const ms = performance.now() - start
  await worker.terminate()
  return (frames / ms) * 1000
}

/** Frames per second through the floor ring (same 1 MiB of frames, drained in batches of 4096). */
async function floorThroughput(frames: number): Promise<number> {
  const buffer = createFloorRing()
  const floor = new FloorRing(buffer)
  const into = new Uint8Array(4096 * 64)
  const worker = new Worker(workerUrl, { workerData: { mode: 'produce-floor', ring: buffer, frames } })
  await once(worker, 'online')
  let received = 0
  const start = performance.now()
  while (received < frames) {
    const count = floor.drain(into)
    received += count
    if (count === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  const ms = performance.now() - start
  await worker.terminate()
  return (frames / ms) * 1000
}

async function portThroughput(frames: number): Promise<number> {
  const worker = new Worker(workerUrl, { workerData: { mode: 'produce-port', frames } })
  await once(worker, 'online')
  const start = performance.now()
  let received = 0
  await new Promise<void>((resolve) =>
    worker.on('message', () => {
      if (++received === frames) resolve()
    }),
  )
  const ms = performance.now() - start
  await worker.terminate()
  return (frames / ms) * 1000
}

const drainRates: number[] = []
const batchRates: number[] = []
const iterateRates: number[] = []
const floorRates: number[] = []
const portRates: number[] = []
for (let run = 0; run < 5; run++) {
  drainRates.push(await channelThroughput(2_000_000, 'drain'))
  batchRates.push(await channelThroughput(2_000_000, 'drain', 64))
  iterateRates.push(await channelThroughput(1_000_000, 'for-await'))
  floorRates.push(await floorThroughput(2_000_000))
  portRates.push(await portThroughput(200_000))
}
const rate = (name: string, rates: number[]) => ({
  name,
  value: 1e9 / median(rates),
  unit: 'ns',
  note: `${(median(rates) / 1e6).toFixed(3)} M frames/s; runs ${rates.map((r) => (r / 1e6).toFixed(2)).join(', ')}`,
})
const channelRate = median(drainRates)
const batchRate = median(batchRates)
const portRate = median(portRates)
const floorRate = median(floorRates)
printTable(
  'throughput between two threads, 64-byte frames (ns per frame = 1e9 / rate)',
  [
    rate('Channel trySend → drain(4096)', drainRates),
    rate('Channel trySendMany(64) → drain(4096)', batchRates),
    rate('Channel trySend → for await', iterateRates),
    rate('floor: bare 1-producer ring, copy in/out + zero', floorRates),
    rate('postMessage(Uint8Array) → on message', portRates),
  ],
  'Channel trySend → drain(4096)',
)
const percentOfFloor = (r: number) => `${((100 * r) / floorRate).toFixed(0)} % of the floor`
reportTarget(
  '≥ 5 million 64-byte frames/s (trySend)',
  channelRate >= 5e6,
  `${(channelRate / 1e6).toFixed(2)} M/s, ${percentOfFloor(channelRate)} (${(floorRate / 1e6).toFixed(2)} M/s)`,
)
reportTarget(
  '≥ 5 million 64-byte frames/s (trySendMany)',
  batchRate >= 5e6,
  `${(batchRate / 1e6).toFixed(2)} M/s, ${percentOfFloor(batchRate)}`,
)
reportTarget(
  '≥ 10× postMessage',
  channelRate / portRate >= 10,
  `${(channelRate / portRate).toFixed(1)}× (trySendMany: ${(batchRate / portRate).toFixed(1)}×; for await: ${(median(iterateRates) / portRate).toFixed(1)}×)`,
)

// ---- 3. memory ----

for (const capacityBytes of [64 << 10, 4 << 20]) {
  const ch = new Channel({ name: 'memory', capacityBytes })
  const header = ch.handle.buffer.byteLength - capacityBytes
  console.log(
    `memory: capacityBytes ${capacityBytes} → SharedArrayBuffer of ${ch.handle.buffer.byteLength} bytes (capacity + ${header}-byte header with maxThreads 64)`,
  )
}
