/**
 * Property-based (fast-check): random snapshots, valid ones built on the schema's shape and invalid
 * ones made by random mutations (wrong types, NaN-like strings, huge arrays, deep nesting, enormous
 * and unicode names, missing fields, broken JSON), served by a real HTTP target and taken in by the
 * sidecar's own pipeline (TargetClient → Store → both exposition formats).
 *
 * Invariants: nothing throws; every refused snapshot is counted once, with a reason from the
 * bounded set (`beamline_sidecar_poll_errors_total{reason}`), and makes the target down and served
 * nothing; an accepted one is served within `--max-series`; every exposition line parses.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, it } from 'node:test'
import { type Snapshot, startExporter } from '@beamline/exporter'
import { Semaphore } from '@beamline/semaphore'
import fc from 'fast-check'
import { createExposition, POLL_ERRORS, parseTarget, Store, TargetClient } from '../src/index.js'
import { FixtureMailboxes } from './fixtures/mailboxes.js'

const MAX_SERIES = 400
let body = ''
const server = createServer((_req, res) =>
  res.writeHead(200, { 'content-type': 'application/json' }).end(body),
)
let client: TargetClient
let base: Snapshot

before(async () => {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const target = parseTarget(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'test')
  client = new TargetClient(target, { timeoutMs: 5000, maxBodyBytes: 4 * 1024 * 1024 })
  const registry = new FixtureMailboxes()
  registry.enqueue('chat', 'room-1', 7)
  const exporter = await startExporter({
    service: 'fuzz',
    registry,
    semaphores: [new Semaphore({ name: 'db', max: 4 })],
    listen: { port: 0 },
  })
  base = exporter.snapshot()
  await exporter.close()
})

after(async () => {
  await client.close()
  server.close()
})

const weird = fc.constantFrom(
  '',
  'a"b\\c\nd}',
  '\u0000\u001b[31m',
  '\u202e🚀',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
)
/** Names the schema takes (at most `maxLength` UTF-16 units): short, unicode, at the limit, or odd. */
const name = (maxLength: number) =>
  fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => s.length <= maxLength),
    fc.string({ minLength: maxLength - 4, maxLength }),
    weird,
  )
const count = fc.oneof(
  fc.nat(),
  fc.integer({ min: 0, max: 2 ** 53 }),
  fc.double({ min: 0, max: 1e300, noNaN: true }),
)
const group = fc.record({
  queued: count,
  nonEmpty: count,
  longest: count,
  mailboxes: count,
  enqueued: count,
  dequeued: count,
  rejected: count,
  dropped: fc.record({ overflow: count, expired: count }),
})

/** A snapshot the schema accepts: the real exporter's, with random groups, semaphores and origins. */
const valid = fc
  .record({
    service: name(200).filter((s) => s.length > 0),
    instance: name(200),
    groups: fc.dictionary(name(200), group, { maxKeys: 40 }),
    semaphores: fc.array(
      fc.record({ name: name(300), max: count, inUse: count, acquired: count, rejected: count }),
      { maxLength: 30 },
    ),
    origins: fc.array(
      fc.record({
        key: name(1024),
        requests: count,
        probability: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
      {
        maxLength: 20,
      },
    ),
  })
  .map((r): Snapshot => {
    const sem = base.semaphores[0]!
    return {
      ...base,
      service: r.service,
      instance: r.instance,
      time: base.time,
      mailboxes: { ...base.mailboxes!, groups: r.groups },
      semaphores: r.semaphores.map((s) => ({ ...sem, ...s })),
      undici: {
        bulkheads: [],
        throttles: r.origins.map((o) => ({
          ...o,
          accepts: 0,
          throttled: 0,
          requestsTotal: o.requests,
          acceptsTotal: 0,
        })),
      },
    }
  })

/** Every path to a value in `doc`. */
function paths(
  doc: unknown,
  at: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (doc !== null && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) paths(v, [...at, Array.isArray(doc) ? Number(k) : k], out)
  }
  if (at.length > 0) out.push(at)
  return out
}

type Mutation = (doc: Record<string, unknown>) => unknown

const mutation: fc.Arbitrary<{ what: string; apply: Mutation }> = fc.oneof(
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom<unknown>('NaN', 'Infinity', null, {}, [], true, -5, 'x'.repeat(5000), 1.5),
    )
    .map(([i, v]) => ({
      what: `set a value to ${JSON.stringify(v).slice(0, 20)}`,
      apply: (doc: Record<string, unknown>) => {
        const all = paths(doc)
        const path = all[i % all.length]!
        let o = doc as Record<string | number, unknown>
        for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>
        o[path.at(-1)!] = v
        return doc
      },
    })),
  fc.nat().map((i) => ({
    what: 'delete a field',
    apply: (doc: Record<string, unknown>) => {
      const all = paths(doc)
      const path = all[i % all.length]!
      let o = doc as Record<string | number, unknown>
      for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>
      delete o[path.at(-1)!]
      return doc
    },
  })),
  fc.integer({ min: 10_001, max: 60_000 }).map((n) => ({
    what: `${n} semaphores`,
    apply: (doc: Record<string, unknown>) => ({
      ...doc,
      semaphores: Array.from({ length: n }, () => base.semaphores[0]),
    }),
  })),
  fc.integer({ min: 10, max: 100_000 }).map((depth) => ({
    what: `nested ${depth} deep`,
    // Written as text: JSON.stringify itself would run out of stack on the deepest.
    apply: (doc: Record<string, unknown>) =>
      new Raw(`${JSON.stringify(doc).slice(0, -1)},"extra":${'[{"v":'.repeat(depth)}1${'}]'.repeat(depth)}}`),
  })),
  fc.integer({ min: 1025, max: 200_000 }).map((n) => ({
    what: `a ${n}-character group name`,
    apply: (doc: Record<string, unknown>) => ({
      ...doc,
      mailboxes: { ...(doc['mailboxes'] as object), groups: { ['é'.repeat(n)]: base.mailboxes!.totals } },
    }),
  })),
  fc
    .constantFrom('NaN', '{"schema": beamline', '', '[]', 'null', '{"schema":"beamline.snapshot/v2"}')
    .map((text) => ({
      what: `the body ${JSON.stringify(text)}`,
      apply: () => new Raw(text),
    })),
)

/** A body sent as is, not as JSON. */
class Raw {
  constructor(readonly text: string) {}
}

/** One sample line; label values may hold any character but the escaped ones (U+2028 too: dotAll). */
const LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? -?([0-9.e+-]+|NaN|\+Inf|-Inf)$/s

it('takes in random valid and invalid snapshots without crashing, counting every refusal with a reason', async () => {
  const store = new Store({ intervalMs: 1000, ttlMs: 60_000, maxSeries: MAX_SERIES, peakWindowMs: 30_000 })
  const state = store.add(client.target)
  const exposition = createExposition(store)
  let time = base.time
  let refused = 0
  let accepted = 0
  await fc.assert(
    fc.asyncProperty(valid, fc.option(mutation, { freq: 2 }), async (doc, mutate) => {
      time += 1000
      const out = mutate
        ? mutate.apply(structuredClone({ ...doc, time }) as Record<string, unknown>)
        : { ...doc, time }
      body = out instanceof Raw ? out.text : JSON.stringify(out)
      const failedBefore = store.pollsFailed
      const errorsBefore = { ...store.pollErrors }
      const result = await client.poll()
      store.record(state, result, 1, time)
      store.endCycle(time)
      if (result.ok) {
        accepted++
        assert.equal(state.up, true)
      } else {
        refused++
        assert.ok((POLL_ERRORS as readonly string[]).includes(result.error), result.error)
        assert.equal(store.pollsFailed, failedBefore + 1)
        for (const e of POLL_ERRORS)
          assert.equal(store.pollErrors[e], errorsBefore[e] + (e === result.error ? 1 : 0))
        assert.equal(state.up, false)
        assert.equal(store.seriesCount, 0, 'a refused snapshot serves nothing')
      }
      assert.ok(store.seriesCount <= MAX_SERIES, `${store.seriesCount} series`)
      assert.ok(store.historyCount <= MAX_SERIES, `${store.historyCount} histories`)
      for (const om of [false, true]) {
        const text = (await exposition.render(om)).body
        let served = 0
        for (const line of text.split('\n')) {
          if (line === '' || line.startsWith('#')) continue
          assert.match(line, LINE)
          if (line.includes('service="')) served++
        }
        assert.ok(served <= MAX_SERIES)
        if (!result.ok) {
          const reason = `beamline_sidecar_poll_errors_total{reason="${result.error}"} ${store.pollErrors[result.error]}`
          assert.ok(text.includes(reason), reason)
        }
      }
      await new Promise((r) => setImmediate(r))
    }),
    { numRuns: 150 },
  )
  // Both kinds were exercised.
  assert.ok(refused > 10 && accepted > 10, `${refused} refused, ${accepted} accepted`)
})
