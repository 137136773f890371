/**
 * The store, driven through the real exporter's snapshots (semaphore from @beamline/semaphore,
 * channel from @beamline/fanout).
 * Invariants: rates over sliding windows absorb counter resets; `_peak` is the maximum over the
 * trailing window, whoever reads and however often; a failed poll stops the target's series at once
 * while its histories outlive it for the TTL; series and histories stay within `maxSeries`.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Snapshot, startExporter } from '@beamline/exporter'
import { Channel } from '@beamline/fanout'
import { Semaphore } from '@beamline/semaphore'
import {
  createExposition,
  parseTarget,
  SIDECAR_METRICS,
  Store,
  type StoreOptions,
  type TargetState,
  Track,
} from '../src/index.js'
import { parseExposition, value } from './helpers.js'

describe('Track', () => {
  it('computes per-second rates over each window, from the newest sample back', () => {
    const r = new Track(Track.capacityFor(100_000, 1000), true)
    assert.equal(r.rate(1000, 500), undefined)
    for (let t = 0; t <= 200; t++) r.add(t * 1000, t < 150 ? t * 10 : 1500 + (t - 150) * 100)
    assert.equal(r.rate(1000, 500), 100)
    assert.equal(r.rate(10_000, 500), 100)
    // 100 s back lands at t=100: 50 s at 10/s plus 50 s at 100/s.
    assert.equal(r.rate(100_000, 500), (500 + 5000) / 100)
  })

  it('absorbs counter resets like Prometheus rate()', () => {
    const r = new Track(20, true)
    r.add(0, 100)
    r.add(1000, 200)
    r.add(2000, 50) // restarted: 50 since the reset
    assert.equal(r.rate(1000, 500), 50)
    assert.equal(r.rate(2000, 500), 75)
  })

  it('ignores samples that do not move time forward and tolerates poll jitter', () => {
    const r = new Track(20, true)
    r.add(0, 0)
    r.add(980, 98)
    r.add(980, 5000)
    assert.equal(r.rate(1000, 500), 100)
  })

  it('gives the maximum over the trailing window, skipping unknown values', () => {
    const g = new Track(Track.capacityFor(3000, 1000), false)
    assert.equal(g.max(3000), undefined)
    for (const [t, v] of [
      [0, 5],
      [1000, 80],
      [2000, Number.NaN],
      [3000, 7],
    ] as const)
      g.add(t, v)
    assert.equal(g.max(3000), 80) // samples at 1000..3000 are within 3 s of the newest
    g.add(4000, 1)
    assert.equal(g.max(3000), 7)
    assert.deepEqual(g.column(), [5, 80, null, 7, 1])
  })
})

describe('Store', () => {
  const options = (o: Partial<StoreOptions> = {}): StoreOptions => ({
    intervalMs: 1000,
    ttlMs: 60_000,
    maxSeries: 10_000,
    peakWindowMs: 30_000,
    ...o,
  })

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

  const ok = (snapshot: Snapshot) => ({ ok: true as const, snapshot, bytes: 0 })
  const down = { ok: false as const, error: 'network' as const, reason: 'ECONNREFUSED' }
  const add = (store: Store, port = 1): TargetState =>
    store.add(parseTarget(`http://127.0.0.1:${port}`, 'test'))
  const scrape = async (store: Store) => {
    const body = (await createExposition(store).render(false)).body
    await new Promise((r) => setImmediate(r))
    return parseExposition(body)
  }

  it('bounds the series served and counts what it leaves out', async () => {
    const store = new Store(options({ maxSeries: 100 }))
    const sem = new Semaphore({ name: 'db', max: 2 })
    for (const [i, s] of (await snapshots(3, sem)).entries())
      store.record(add(store, 1000 + i), ok({ ...s, instance: `i${i}` }), 1, Date.now())
    assert.equal(store.seriesCount, 100)
    assert.ok(store.historyCount <= 100)
    assert.ok(store.seriesDropped > 0)
    const { body } = await createExposition(store).render(false)
    assert.match(body, new RegExp(`^${SIDECAR_METRICS.seriesDropped.name} ${store.seriesDropped}$`, 'm'))
    assert.match(body, new RegExp(`^${SIDECAR_METRICS.series.name} 100$`, 'm'))
  })

  it('regression: forgets the rates of counters no poll reported for the TTL', async () => {
    // A target reporting a new semaphore name on every poll once grew the rate state without end,
    // although its served series were bounded.
    const store = new Store(options({ ttlMs: 5_000 }))
    const state = add(store)
    const [base] = await snapshots(1, new Semaphore({ name: 'db', max: 2 }))
    for (let i = 0; i < 40; i++) {
      const sem = { ...base!.semaphores[0]!, name: `sem-${i}` }
      const s = { ...base!, time: 1_000_000 + i * 1000, semaphores: [sem] }
      store.record(state, ok(s), 1, i * 1000)
      store.endCycle(i * 1000)
    }
    const names = Object.keys(state.ratesJson()['semaphore'] ?? {})
    // Seen within the last 5 s: the names of polls 34..39 (poll 34 is exactly 5 s old).
    assert.deepEqual(names.sort(), ['sem-34', 'sem-35', 'sem-36', 'sem-37', 'sem-38', 'sem-39'])
    assert.ok(store.seriesExpired > 0)
  })

  it('serves rates, and peaks over the trailing window that no read resets', async () => {
    const store = new Store(options({ peakWindowMs: 3000 }))
    const state = add(store)
    const list = await snapshots(6, new Semaphore({ name: 'db', max: 4 }))
    const withInUse = (s: Snapshot, inUse: number): Snapshot => ({
      ...s,
      semaphores: s.semaphores.map((x) => ({ ...x, inUse })),
    })
    const inUse = [0, 3, 1, 1, 1, 1]
    const peaks: (number | undefined)[] = []
    for (const [i, s] of list.entries()) {
      store.record(state, ok(withInUse(s, inUse[i]!)), 1, i * 1000)
      // Three readers in a row see one peak: a read changes nothing.
      const seen = await Promise.all([0, 1, 2].map(() => scrape(store)))
      const p = seen.map((m) => value(m, 'beamline_semaphore_in_use_peak', 'semaphore="db"'))
      assert.deepEqual(p, [p[0], p[0], p[0]])
      peaks.push(p[0])
      if (i === 2) {
        assert.equal(value(seen[0]!, 'beamline_semaphore_in_use', 'semaphore="db"'), 1)
        assert.equal(
          value(seen[0]!, 'beamline_semaphore_rate', 'outcome="acquired"', 'window="1s"'),
          1,
          'one acquisition per second',
        )
      }
    }
    // The spike at t=1 s stays in the 3 s window until the poll at t=4 s.
    assert.deepEqual(peaks, [0, 3, 3, 3, 1, 1])
  })

  it('rates each channel’s frames sent, received and refused, in the JSON API and served', async () => {
    const store = new Store(options())
    const state = add(store)
    // 128 bytes per 120-byte frame with its header: 8 frames fill the ring.
    const ch = new Channel({ name: 'worker-1', capacityBytes: 1024 })
    const exporter = await startExporter({ service: 'svc', channels: [ch], listen: { port: 0 } })
    try {
      const frame = new Uint8Array(120)
      // Each second: 6 frames offered, 4 received. From the third second on the ring is full and
      // refuses some; counted from what trySend said, not from the channel's statistics.
      const counts = { sent: 0, received: 0, refused: 0 }
      const perSecond: (typeof counts)[] = []
      for (let i = 0; i < 6; i++) {
        const before = { ...counts }
        for (let f = 0; f < 6; f++) {
          if (ch.trySend(frame)) counts.sent++
          else counts.refused++
        }
        counts.received += ch.drain(4).length
        perSecond.push({
          sent: counts.sent - before.sent,
          received: counts.received - before.received,
          refused: counts.refused - before.refused,
        })
        store.record(state, ok({ ...exporter.snapshot(), time: 1_000_000 + i * 1000 }), 1, i * 1000)
      }
      assert.ok(perSecond.at(-1)!.refused > 0, 'full by the last second')
      assert.ok(perSecond.at(-1)!.sent > 0 && perSecond.at(-1)!.received > 0)
      const rates = state.ratesJson()['channel']?.['worker-1']
      const last = perSecond.at(-1)!
      for (const direction of ['sent', 'received', 'refused'] as const) {
        assert.equal(rates?.[direction]?.['1s'], last[direction], `${direction} / s`)
        assert.equal(state.rate('channel', 'worker-1', direction), last[direction])
      }
      // 10 s back reaches the first poll: five seconds of counts.
      const since = (d: keyof typeof counts) => perSecond.slice(1).reduce((n, s) => n + s[d], 0) / 5
      assert.equal(rates?.['sent']?.['10s'], since('sent'))
      const served = await scrape(store)
      for (const direction of ['sent', 'received', 'refused'] as const)
        assert.equal(
          value(
            served,
            'beamline_channel_rate',
            'channel="worker-1"',
            `direction="${direction}"`,
            'window="1s"',
          ),
          last[direction],
        )
    } finally {
      await exporter.close()
      ch.close()
    }
  })

  it('stops serving a target at its first failed poll, and keeps its rates continuous when it is back', async () => {
    const store = new Store(options())
    const state = add(store)
    const list = await snapshots(8, new Semaphore({ name: 'db', max: 4 }))
    for (let i = 0; i < 4; i++) store.record(state, ok(list[i]!), 1, i * 1000)
    assert.ok(value(await scrape(store), 'beamline_semaphore_acquired_total') !== undefined)
    store.record(state, down, 1, 4000)
    const stale = await scrape(store)
    assert.equal(value(stale, 'beamline_semaphore_acquired_total'), undefined)
    assert.equal(value(stale, 'beamline_target_up'), 0)
    assert.equal(store.seriesCount, 0)
    assert.deepEqual(state.ratesJson(), {})
    // Back two polls later (the same process): the 10 s rate spans the gap, from the samples before it.
    store.record(state, ok(list[6]!), 1, 6000)
    const back = await scrape(store)
    assert.equal(value(back, 'beamline_semaphore_rate', 'outcome="acquired"', 'window="10s"'), 1)
    assert.equal(value(back, 'beamline_target_up'), 1)
    // Another process at the same address: its histories start afresh.
    store.record(state, ok({ ...list[7]!, startTime: list[7]!.startTime + 1 }), 1, 7000)
    assert.equal(value(await scrape(store), 'beamline_semaphore_rate', 'window="10s"'), undefined)
  })
})
