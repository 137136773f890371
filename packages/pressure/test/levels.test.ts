/*
 * Invariants: every signal alone moves the level — up at the first sample over a threshold, down
 * only after it stayed below for coolDownMs; a signal oscillating around a threshold never makes the
 * level flap; level = the highest per-signal level; reasons list exactly the signals holding it up.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SIGNALS } from '../src/index.js'
import { driven, THRESHOLDS } from './fixtures/driven.js'

describe('levels and hysteresis', () => {
  for (const signal of SIGNALS) {
    it(`${signal} alone drives 0 → 1 → 2 at once and back after the cool-down`, () => {
      const { monitor, step } = driven()
      const [throttle, shed] = THRESHOLDS[signal]
      assert.equal(step({ [signal]: throttle * 0.5 }), 0)
      assert.equal(step({ [signal]: throttle }), 1, 'enters throttle at the first sample at the threshold')
      assert.deepEqual(
        monitor.reasons.map((r) => [r.signal, r.level]),
        [[signal, 1]],
      )
      assert.equal(step({ [signal]: shed }), 2, 'enters shed at once')
      assert.equal(monitor.reasons[0]!.value, shed)
      assert.equal(monitor.score, 1)
      // Fall clear below throttle: held at 2 for the whole cool-down, then straight to 0.
      assert.equal(step({ [signal]: 0 }), 2)
      for (let t = 100; t < 1_000; t += 100) assert.equal(step({}), 2, `still 2 after ${t} ms below`)
      assert.equal(step({}), 0, 'drops after 1000 ms below')
      assert.deepEqual(monitor.reasons, [])
      assert.equal(monitor.score, 0)
      monitor.stop()
    })
  }

  it('steps 2 → 1 → 0 when the signal lingers at throttle during the cool-down', () => {
    const { monitor, step } = driven()
    step({ queuedMessages: 5_000 })
    assert.equal(monitor.level, 2)
    step({ queuedMessages: 500 })
    for (let i = 0; i < 9; i++) assert.equal(step({}), 2)
    assert.equal(step({}), 1, 'drops to the highest level seen during the cool-down')
    step({ queuedMessages: 0 })
    for (let i = 0; i < 9; i++) assert.equal(step({}), 1, 'the next step down waits its own cool-down')
    assert.equal(step({}), 0)
    monitor.stop()
  })

  it('does not flap when a signal oscillates around a threshold', () => {
    const { monitor, step } = driven()
    const changes: [number, number][] = []
    monitor.on('change', ({ from, to }) => changes.push([from, to]))
    // 200 samples alternating just above / just below the throttle threshold of 50 ms.
    for (let i = 0; i < 200; i++) step({ eventLoopDelayP99Ms: i % 2 === 0 ? 51 : 49 })
    assert.deepEqual(changes, [[0, 1]], 'one rise, no falls while it keeps touching the threshold')
    // The same around the shed threshold: held at 2.
    for (let i = 0; i < 200; i++) step({ eventLoopDelayP99Ms: i % 2 === 0 ? 201 : 199 })
    assert.deepEqual(changes, [
      [0, 1],
      [1, 2],
    ])
    // Irregular oscillation whose gaps are all shorter than the cool-down.
    for (let i = 0; i < 100; i++) step({ eventLoopDelayP99Ms: i % 7 === 0 ? 250 : 10 }, 130)
    assert.equal(changes.length, 2)
    monitor.stop()
  })

  it('takes the highest level over signals and lists every signal holding it, strongest first', () => {
    const { monitor, step } = driven()
    step({ gcFraction: 0.12, heapUsedRatio: 0.95, queuedMessages: 150 })
    assert.equal(monitor.level, 2)
    assert.deepEqual(
      monitor.reasons.map((r) => [r.signal, r.level]),
      [
        ['heapUsedRatio', 2],
        ['gcFraction', 1],
        ['queuedMessages', 1],
      ],
    )
    assert.equal(monitor.topReason(), 'heapUsedRatio')
    const gc = monitor.reasons.find((r) => r.signal === 'gcFraction')!
    assert.deepEqual(gc, { signal: 'gcFraction', value: 0.12, throttle: 0.1, shed: 0.25, level: 1 })
    assert.equal(monitor.signals()['queuedMessages'], 150)
    assert.deepEqual(Object.keys(monitor.signals()).sort(), [...SIGNALS].sort())
    monitor.stop()
  })

  it('computes the score as the furthest any signal is between its thresholds', () => {
    const { monitor, step } = driven()
    step({ queuedMessages: 100 + 900 * 0.25 })
    assert.ok(Math.abs(monitor.score - 0.25) < 1e-12)
    step({ longestQueue: 50 + 450 * 0.6 })
    assert.ok(Math.abs(monitor.score - 0.6) < 1e-12)
    step({ longestQueue: 10_000 })
    assert.equal(monitor.score, 1, 'clamped at 1')
    monitor.stop()
  })

  it('lets the score rise at once and fall linearly over the cool-down', () => {
    const { monitor, step } = driven()
    step({ queuedMessages: 1_000 })
    assert.equal(monitor.score, 1)
    step({ queuedMessages: 0 }, 250)
    assert.ok(Math.abs(monitor.score - 0.75) < 1e-9, `after 250 of 1000 ms: ${monitor.score}`)
    step({ queuedMessages: 100 + 900 * 0.9 })
    assert.ok(Math.abs(monitor.score - 0.9) < 1e-9, 'a higher raw score wins at once')
    step({ queuedMessages: 100 + 900 * 0.2 }, 500)
    assert.ok(Math.abs(monitor.score - 0.4) < 1e-9, `released to 0.4, above the raw 0.2: ${monitor.score}`)
    step({}, 500)
    assert.ok(Math.abs(monitor.score - 0.2) < 1e-9, 'never below the raw score')
    step({ queuedMessages: 0 }, 1_000)
    assert.equal(monitor.score, 0)
    monitor.stop()
  })

  it("emits 'change' with from, to, score and reasons", () => {
    const { monitor, step } = driven({ coolDownMs: 0 })
    const events: unknown[] = []
    monitor.on('change', (e) => events.push(e))
    step({ queuedMessages: 2_000 })
    step({ queuedMessages: 0 })
    assert.equal(events.length, 2)
    assert.deepEqual(events[0], {
      from: 0,
      to: 2,
      score: 1,
      reasons: [{ signal: 'queuedMessages', value: 2_000, throttle: 100, shed: 1_000, level: 2 }],
    })
    assert.deepEqual(events[1], { from: 2, to: 0, score: 0, reasons: [] })
    monitor.stop()
  })

  it('stop() resets the level to 0 for every reader and ends sampling', () => {
    const { monitor, step } = driven()
    step({ queuedMessages: 5_000 })
    assert.equal(monitor.level, 2)
    monitor.stop()
    assert.equal(monitor.level, 0)
    assert.equal(monitor.stopped, true)
    assert.equal(step({ queuedMessages: 5_000 }), 0, 'a stopped monitor no longer samples')
  })

  it('keeps the last value when a source throws or returns a non-number', () => {
    let value: unknown = 2_000
    const { monitor } = driven({
      thresholds: { queuedMessages: [100, 1_000] },
      sources: {
        queuedMessages: () => {
          if (value === 'throw') throw new Error('boom')
          return value as number
        },
      },
    })
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    process.on('warning', onWarning)
    monitor.sample()
    value = 'throw'
    monitor.sample()
    value = Number.NaN
    monitor.sample()
    assert.equal(monitor.signals()['queuedMessages'], 2_000)
    assert.equal(monitor.level, 2)
    monitor.stop()
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        process.off('warning', onWarning)
        assert.ok(warnings.some((w) => w.includes('queuedMessages threw')))
        resolve()
      }),
    )
  })
})
