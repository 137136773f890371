/*
 * Invariants: one event-loop histogram and one GC observer per thread, running while at least one
 * reader holds them and stopped when the last lets go; a reader's release counts once however often
 * it is called; the event-loop window changes on its timer only, never on a read; cumulative GC
 * never decreases, even across a stop and restart of the observer.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { acquireRuntimeSampler, RUNTIME_WINDOW_MS, runtimeSamplerRefs } from '../src/index.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function collectGarbage(): void {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}

function block(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end);
}

test('each part runs while some reader holds it, and one release counts once', () => {
  assert.deepEqual(runtimeSamplerRefs(), { eventLoop: 0, gc: 0 })
  const loopOnly = acquireRuntimeSampler({ eventLoop: true })
  const both = acquireRuntimeSampler()
  const gcOnly = acquireRuntimeSampler({ gc: true })
  assert.deepEqual(runtimeSamplerRefs(), { eventLoop: 2, gc: 2 })
  both.release()
  both.release()
  assert.deepEqual(runtimeSamplerRefs(), { eventLoop: 1, gc: 1 })
  loopOnly.release()
  assert.deepEqual(runtimeSamplerRefs(), { eventLoop: 0, gc: 1 })
  assert.equal(gcOnly.eventLoopWindow().delay.p99, 0, 'no histogram runs for a GC-only reader')
  gcOnly.release()
  assert.deepEqual(runtimeSamplerRefs(), { eventLoop: 0, gc: 0 })
})

test('the event-loop window rotates on its timer, and every reader sees the same window', async () => {
  const a = acquireRuntimeSampler({ eventLoop: true })
  const b = acquireRuntimeSampler({ eventLoop: true })
  try {
    // A blocked loop: the histogram's next timer fires ≥ 150 ms late.
    await sleep(50)
    block(150)
    await sleep(30)
    assert.ok(a.delayP99InProgress() >= 0.15, `in progress: ${a.delayP99InProgress()} s`)
    // Until the first rotation the window in progress is reported (its length grows between reads);
    // wait for the window holding the block to complete, reading often meanwhile.
    const start = performance.now()
    let w = a.eventLoopWindow()
    for (;;) {
      a.delayP99InProgress()
      await sleep(20)
      const next = a.eventLoopWindow()
      const complete = next.windowSeconds === w.windowSeconds
      w = next
      if ((complete && w.delay.max >= 0.15) || performance.now() - start > 10 * RUNTIME_WINDOW_MS) break
    }
    assert.ok(w.delay.max >= 0.15, `window max ${w.delay.max} s`)
    assert.ok(w.delay.p99 >= w.delay.p50 && w.delay.min <= w.delay.mean && w.delay.mean <= w.delay.max)
    assert.ok(w.windowSeconds >= 0.9 * (RUNTIME_WINDOW_MS / 1000), `window of ${w.windowSeconds} s`)
    assert.ok(w.utilization > 0 && w.utilization <= 1)
    assert.deepEqual(b.eventLoopWindow(), w, 'the other reader reads the same window')
    assert.deepEqual(a.eventLoopWindow(), w, 'reading changes nothing')
  } finally {
    a.release()
    b.release()
  }
})

test('cumulative GC grows with collections and never decreases across a restart of the observer', async () => {
  const first = acquireRuntimeSampler({ gc: true })
  const before = first.gcSeconds()
  collectGarbage()
  await sleep(50)
  const totals = first.gcTotals()
  const after = first.gcSeconds()
  assert.ok(after > before, `gc seconds ${before} → ${after}`)
  assert.ok((totals['major']?.count ?? 0) >= 1, `totals ${JSON.stringify(totals)}`)
  const sum = Object.values(totals).reduce((s, t) => s + t.seconds, 0)
  assert.ok(Math.abs(sum - after) < 1e-9, 'the total is the sum of the types')
  first.release()
  collectGarbage()
  await sleep(50)
  const again = acquireRuntimeSampler({ gc: true })
  try {
    assert.ok(again.gcSeconds() >= after, 'no decrease after the observer restarted')
    assert.ok(again.gcTotals()['major']!.count >= totals['major']!.count)
  } finally {
    again.release()
  }
})
