/**
 * Rates over sliding windows with counter resets; the series bound and TTL of the store; peaks reset
 * by a scrape. Driven through the real exporter's snapshots (semaphore from @beamline/semaphore).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Snapshot, startExporter } from '@beamline/exporter'
import { Semaphore } from '@beamline/semaphore'
import {
  CounterRate,
  createExposition,
  parseTarget,
  SIDECAR_METRICS,
  Store,
  TargetState,
} from '../src/index.js'

describe('CounterRate', () => {
  it('computes per-second rates over each window, from the newest sample back', () => {
    const r = new CounterRate(CounterRate.capacityFor(100_000, 1000), 500)
    assert.equal(r.rate(1000), undefined)
    for (let t = 0; t <= 200; t++) r.add(t * 1000, t < 150 ? t * 10 : 1500 + (t - 150) * 100)
    assert.equal(r.rate(1000), 100)
    assert.equal(r.rate(10_000), 100)
    // 100 s back lands at t=100: 50 s at 10/s plus 50 s at 100/s.
    assert.equal(r.rate(100_000), (500 + 5000) / 100)
  })

  it('absorbs counter resets like Prometheus rate()', () => {
    const r = new CounterRate(20, 500)
    r.add(0, 100)
    r.add(1000, 200)
    r.add(2000, 50) // restarted: 50 since the reset
    assert.equal(r.rate(1000), 50)
    assert.equal(r.rate(2000), 75)
  })

  it('ignores samples that do not move time forward and tolerates poll jitter', () => {
    const r = new CounterRate(20, 500)
    r.add(0, 0)
    r.add(980, 98)
    r.add(980, 5000)
    assert.equal(r.rate(1000), 100)
  })
})

describe('Store', () => {
  async function snapshots(n: number, sem: Semaphore): Promise<Snapshot[]> {
    const exporter = await startExporter({ service: 'svc', semaphores: [sem], listen: { port: 0 } })
    const out: Snapshot[] = []
    for (let i = 0; i < n; i++) {
      sem.tryAcquire()
      sem.release()
      out.push({ ...exporter.snapshot(), time: 1_000_000 + i * 1000 })
    }
    await exporter.close()
    return out
  }

  it('bounds the number of series and counts what it drops', async () => {
    const store = new Store({ intervalMs: 1000, ttlMs: 60_000, maxSeries: 100 })
    const sem = new Semaphore({ name: 'db', max: 2 })
    for (const [i, s] of (await snapshots(3, sem)).entries()) {
      const state = new TargetState(parseTarget(`http://127.0.0.1:${1000 + i}`, 'test'))
      store.record(state, { ok: true, snapshot: { ...s, instance: `i${i}` }, bytes: 0 }, 1, Date.now())
    }
    assert.equal(store.series.size, 100)
    assert.ok(store.seriesDropped > 0)
    const { body } = await createExposition(store).render(false)
    assert.match(body, new RegExp(`^${SIDECAR_METRICS.seriesDropped.name} ${store.seriesDropped}$`, 'm'))
  })

  it('expires the series of an instance not seen for the TTL', async () => {
    const store = new Store({ intervalMs: 100, ttlMs: 200, maxSeries: 10_000 })
    const [s] = await snapshots(1, new Semaphore({ name: 'db', max: 2 }))
    store.record(
      new TargetState(parseTarget('http://127.0.0.1:1', 'test')),
      { ok: true, snapshot: s!, bytes: 0 },
      1,
      Date.now(),
    )
    assert.ok(store.series.size > 0)
    await new Promise((r) => setTimeout(r, 1300))
    store.purge()
    assert.equal(store.series.size, 0)
    assert.ok(store.seriesExpired > 0)
  })

  it('regression: forgets the rates of counters no poll reported for the TTL', async () => {
    // A target reporting a new semaphore name on every poll once grew the rate state without end,
    // although its served series were bounded.
    const store = new Store({ intervalMs: 1000, ttlMs: 5_000, maxSeries: 10_000 })
    const state = new TargetState(parseTarget('http://127.0.0.1:1', 'test'))
    const [base] = await snapshots(1, new Semaphore({ name: 'db', max: 2 }))
    for (let i = 0; i < 40; i++) {
      const sem = { ...base!.semaphores[0]!, name: `sem-${i}` }
      const s = { ...base!, time: 1_000_000 + i * 1000, semaphores: [sem] }
      store.record(state, { ok: true, snapshot: s, bytes: 0 }, 1, Date.now())
    }
    const names = new Set([...state.rates.values()].filter((e) => e.kind === 'semaphore').map((e) => e.name))
    // Seen within the last 5 s: the names of polls 34..39 (poll 34 is exactly 5 s old).
    assert.deepEqual([...names].sort(), ['sem-34', 'sem-35', 'sem-36', 'sem-37', 'sem-38', 'sem-39'])
  })

  it('serves semaphore rates and resets peaks after each scrape', async () => {
    const store = new Store({ intervalMs: 1000, ttlMs: 60_000, maxSeries: 10_000 })
    const state = new TargetState(parseTarget('http://127.0.0.1:1', 'test'))
    const sem = new Semaphore({ name: 'db', max: 4 })
    const list = await snapshots(3, sem)
    const withInUse = (s: Snapshot, inUse: number): Snapshot => ({
      ...s,
      semaphores: s.semaphores.map((x) => ({ ...x, inUse })),
    })
    store.record(state, { ok: true, snapshot: withInUse(list[0]!, 0), bytes: 0 }, 1, 0)
    store.record(state, { ok: true, snapshot: withInUse(list[1]!, 3), bytes: 0 }, 1, 0)
    store.record(state, { ok: true, snapshot: withInUse(list[2]!, 1), bytes: 0 }, 1, 0)
    const exposition = createExposition(store)
    const first = (await exposition.render(false)).body
    assert.match(first, /^beamline_semaphore_in_use\{service="svc",instance="[^"]+",semaphore="db"\} 1$/m)
    assert.match(
      first,
      /^beamline_semaphore_in_use_peak\{service="svc",instance="[^"]+",semaphore="db"\} 3$/m,
    )
    assert.match(
      first,
      /^beamline_semaphore_rate\{service="svc",instance="[^"]+",semaphore="db",outcome="acquired",window="1s"\} 1$/m,
    )
    await new Promise((r) => setImmediate(r))
    const second = (await exposition.render(false)).body
    assert.match(
      second,
      /^beamline_semaphore_in_use_peak\{service="svc",instance="[^"]+",semaphore="db"\} 1$/m,
    )
  })
})
