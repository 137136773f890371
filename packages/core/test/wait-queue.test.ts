/*
 * Invariant kept by WaitQueue (packages/core/src/wait-queue.ts): every parked waiter leaves exactly
 * once — served, timed out, aborted, or rejected by serve — and `left()` runs once for each, so a
 * structure's shared count of parked callers never drifts; waiters are served in FIFO order, woken
 * by another thread moving the sequence word, never by polling.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { WaiterList, WaitQueue } from '../src/index.js'

const ROOM = 0
const SEQ = 1

/** A toy structure: `words[ROOM]` units of room; a waiter takes `value` of them. */
function structure() {
  const words = new Int32Array(new SharedArrayBuffer(8))
  const served: number[] = []
  let parked = 0
  const queue: WaitQueue<number> = new WaitQueue<number>(words, SEQ, {
    serve: (waiter) => {
      if (waiter.value < 0) {
        queue.settle(waiter, new Error(`refused ${waiter.value}`))
        return true
      }
      if (Atomics.load(words, ROOM) < waiter.value) return false
      Atomics.sub(words, ROOM, waiter.value)
      served.push(waiter.value)
      queue.settle(waiter)
      return true
    },
    left: () => {
      parked--
    },
  })
  const park = (value: number, options: { timeoutMs?: number; signal?: AbortSignal } = {}) => {
    parked++
    return queue.park(value, {
      timeoutMs: options.timeoutMs,
      onTimeout: () => new Error('timeout'),
      signal: options.signal,
      onAbort: () => new Error('aborted'),
    })
  }
  const free = (units: number) => {
    Atomics.add(words, ROOM, units)
    Atomics.add(words, SEQ, 1)
    Atomics.notify(words, SEQ)
  }
  return { words, queue, served, park, free, parked: () => parked }
}

test('WaitQueue serves in FIFO order and a large head is not overtaken', async () => {
  const s = structure()
  const done = [s.park(1), s.park(3), s.park(1)]
  assert.equal(s.queue.length, 3)
  s.free(2) // the head takes 1; 3 does not fit in the 1 left, and the last 1 must wait behind it
  await done[0]
  assert.deepEqual(s.served, [1])
  s.free(3)
  await Promise.all(done)
  assert.deepEqual(s.served, [1, 3, 1])
  assert.equal(s.parked(), 0)
  assert.ok(s.queue.empty)
})

test('WaitQueue: timeout, abort and a refusal by serve each leave once, and unblock those behind', async () => {
  const s = structure()
  const ac = new AbortController()
  const big = s.park(100, { timeoutMs: 1 })
  const aborted = s.park(100, { signal: ac.signal })
  const refused = s.park(-1)
  const small = s.park(1)
  ac.abort()
  await assert.rejects(aborted, /aborted/)
  await assert.rejects(big, /timeout/)
  s.free(1)
  await assert.rejects(refused, /refused -1/)
  await small
  assert.deepEqual(s.served, [1])
  assert.equal(s.parked(), 0)
  // Settled waiters keep no timer or listener: a late abort changes nothing.
  ac.abort()
  assert.equal(s.parked(), 0)
})

test('WaitQueue is woken by another thread freeing room, many times over', async () => {
  const s = structure()
  const rounds = 200
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads')
     const words = new Int32Array(workerData)
     for (let i = 0; i < ${rounds}; i++) {
       while (Atomics.load(words, 0) !== 0) Atomics.wait(words, 1, Atomics.load(words, 1), 1)
       Atomics.add(words, 0, 1); Atomics.add(words, 1, 1); Atomics.notify(words, 1)
     }`,
    { eval: true, workerData: s.words.buffer },
  )
  for (let i = 0; i < rounds; i++) await s.park(1)
  assert.equal(s.served.length, rounds)
  assert.equal(s.parked(), 0)
  await new Promise((r) => worker.once('exit', r))
})

test('WaiterList removes any node in O(1) and keeps its ends and length', () => {
  type Node = { id: number; prev: Node | undefined; next: Node | undefined }
  const list = new WaiterList<Node>()
  const nodes: Node[] = [0, 1, 2, 3].map((id) => ({ id, prev: undefined, next: undefined }))
  for (const n of nodes) list.push(n)
  list.remove(nodes[0]!)
  list.remove(nodes[2]!)
  list.remove(nodes[3]!)
  assert.equal(list.head, nodes[1])
  assert.equal(list.tail, nodes[1])
  assert.equal(list.length, 1)
  list.remove(nodes[1]!)
  assert.equal(list.head, undefined)
  assert.equal(list.tail, undefined)
  assert.equal(list.length, 0)
})
