/*
 * Invariant: every bad option fails at construction with ERR_BEAMLINE_INVALID_OPTION naming the
 * field; nothing half-built is left sampling.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { httpShedder, PressureMonitor, type PressureMonitorOptions } from '../src/index.js'

const registry = { stats: () => ({ totalQueued: 0, longest: null }) }

function rejects(options: unknown, option: string) {
  assert.throws(
    () => new PressureMonitor(options as PressureMonitorOptions),
    (error: Error & { code?: string; option?: string }) => {
      assert.equal(error.code, 'ERR_BEAMLINE_INVALID_OPTION')
      assert.equal(error.option, option)
      assert.ok(error.message.startsWith(option), error.message)
      return true
    },
  )
}

describe('options', () => {
  it('rejects thresholds that do not increase', () => {
    rejects({ thresholds: { gcFraction: [0.3, 0.2] } }, 'thresholds.gcFraction')
    rejects({ thresholds: { eventLoopDelayP99Ms: [50, 50] } }, 'thresholds.eventLoopDelayP99Ms')
  })
  it('rejects negative, non-finite and out-of-range thresholds', () => {
    rejects({ thresholds: { eventLoopDelayP99Ms: [-1, 10] } }, 'thresholds.eventLoopDelayP99Ms[0]')
    rejects(
      { thresholds: { eventLoopDelayP99Ms: [1, Number.POSITIVE_INFINITY] } },
      'thresholds.eventLoopDelayP99Ms[1]',
    )
    rejects({ thresholds: { heapUsedRatio: [0.5, 1.5] } }, 'thresholds.heapUsedRatio[1]')
    rejects({ thresholds: { gcFraction: [0.1] } }, 'thresholds.gcFraction')
    rejects({ thresholds: { gcFraction: '0.1,0.2' } }, 'thresholds.gcFraction')
    rejects({ thresholds: [] }, 'thresholds')
  })
  it('rejects unknown signal names', () => {
    rejects({ thresholds: { cpu: [0.5, 0.9] } }, 'thresholds.cpu')
    rejects({ sources: { cpu: () => 1 } }, 'sources.cpu')
    rejects({ sources: { gcFraction: 1 } }, 'sources.gcFraction')
  })
  it('rejects intervals ≤ 0 and windows shorter than the interval', () => {
    rejects({ sampleIntervalMs: 0 }, 'sampleIntervalMs')
    rejects({ sampleIntervalMs: -5 }, 'sampleIntervalMs')
    rejects({ sampleIntervalMs: Number.NaN }, 'sampleIntervalMs')
    rejects({ sampleIntervalMs: 200, windowMs: 100 }, 'windowMs')
    rejects({ coolDownMs: -1 }, 'coolDownMs')
    rejects({ maxRoutes: 0 }, 'maxRoutes')
  })
  it('requires a registry for the queue signals, and a real one', () => {
    rejects({ thresholds: { queuedMessages: [1, 2] } }, 'registry')
    rejects({ registry: {} }, 'registry')
    rejects({ now: 5 }, 'now')
    rejects({ autoStart: 'yes' }, 'autoStart')
    const m = new PressureMonitor({ registry, thresholds: { queuedMessages: [1, 2] } })
    assert.deepEqual(m.thresholds(), { queuedMessages: [1, 2] })
    m.stop()
  })
  it('defaults to every runtime signal, plus the queue signals with a registry', () => {
    const bare = new PressureMonitor()
    assert.deepEqual(Object.keys(bare.thresholds()), [
      'gcFraction',
      'eventLoopDelayP99Ms',
      'eventLoopUtilization',
      'heapUsedRatio',
    ])
    bare.stop()
    const withRegistry = new PressureMonitor({ registry })
    assert.equal(Object.keys(withRegistry.thresholds()).length, 6)
    withRegistry.stop()
  })
  it('validates shedder options', () => {
    const m = new PressureMonitor({ thresholds: {} })
    assert.throws(() => httpShedder(m, { retryAfterSeconds: -1 }), {
      code: 'ERR_BEAMLINE_INVALID_OPTION',
      option: 'retryAfterSeconds',
    })
    assert.throws(() => httpShedder(m, { exempt: '/healthz' as never }), { option: 'exempt' })
    assert.throws(() => httpShedder(m, { priority: 1 as never }), { option: 'priority' })
    m.stop()
  })
  it('refuses a handle of another kind or version', () => {
    assert.throws(() => PressureMonitor.attach({ kind: 'beamline.semaphore', version: 1 } as never), {
      code: 'ERR_BEAMLINE_INVALID_HANDLE',
    })
    const m = new PressureMonitor({ thresholds: {} })
    assert.throws(() => PressureMonitor.attach({ ...m.handle, version: 99 }), {
      code: 'ERR_BEAMLINE_INVALID_HANDLE',
    })
    assert.throws(() => PressureMonitor.attach({ ...m.handle, buffer: new SharedArrayBuffer(8) }), {
      code: 'ERR_BEAMLINE_INVALID_HANDLE',
    })
    m.stop()
  })
})
