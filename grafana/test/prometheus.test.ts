/*
 * The dashboards and alert rules against a real Prometheus (Debian's `prometheus`), as child processes:
 * the fixture service (real mailbox, semaphore, pressure, undici and exporter over a Unix socket), the
 * sidecar polling it every second, and Prometheus scraping the sidecar every second with the alert
 * rules loaded. A load driver runs a normal phase, an overload phase (consumer slowed, upstream slow
 * and failing: queues fill, the service sheds, semaphores and bulkheads refuse) and a recovery.
 *
 * Invariants:
 * - every query of every panel of every checked-in dashboard, with the template variables substituted
 *   as Grafana does (All → `.*`, or the actual job/service/instance/group, regex-escaped;
 *   $__rate_interval = 4 × the 1 s scrape interval; every value of $window), parses and returns at
 *   least one series with at least one sample;
 * - every variable query (label_values) lists the fixture's job, service, instance and groups;
 * - what the overload did is what Prometheus shows: level 2 was reached, the shed counter equals the
 *   503s the driver received (the adaptive limit's refusals at the door included), the channel's
 *   refused frames equal the fixture's count, mailbox drops and rejections, semaphore and bulkhead
 *   refusals, a throttle probability above zero, and the limit's refusals and drops were recorded;
 * - every alert rule evaluates without error on the real series.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { panelQueries, startPrometheus, startSidecarProcess, stopChild } from '@beamline/test-kit'
import { Agent, request } from 'undici'
import type { FixtureCommand, FixtureReply } from './fixtures/service.js'
import {
  type DashboardJson,
  escapeRegexValue,
  GRAFANA_DIR,
  interpolate,
  prometheusTool,
  readDashboards,
} from './helpers.js'

const SCRAPE_SECONDS = 1
/** Grafana: max($__interval + scrape interval, 4 × scrape interval). */
const RATE_INTERVAL = `${4 * SCRAPE_SECONDS}s`
const FIXTURE = fileURLToPath(new URL('./fixtures/service.js', import.meta.url))
/** The alert rules and the recording rules the dashboards' fleet row reads. */
export const RULE_FILES = ['beamline-rules.yml', 'beamline-recording-rules.yml'].map((f) =>
  join(GRAFANA_DIR, 'alerts', f),
)

test('dashboards and alert rules against a real Prometheus scraping the sidecar', {
  timeout: 150_000,
}, async (t) => {
  const prometheusBin = prometheusTool(t, 'prometheus')
  if (!prometheusBin) return
  const dir = mkdtempSync(join(tmpdir(), 'beamline-grafana-'))
  const children: ChildProcess[] = []
  const driver = new Agent({ connections: 64 })
  t.after(async () => {
    await driver.close()
    await Promise.all(children.map(stopChild))
    rmSync(dir, { recursive: true, force: true })
  })

  // --- the service, the sidecar, Prometheus -----------------------------------------------------
  const service = fork(FIXTURE, [join(dir, 'fixture.sock')], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  children.push(service)
  const [fixture] = (await once(service, 'message')) as [FixtureReply]
  const command = async (c: FixtureCommand): Promise<FixtureReply> => {
    service.send(c)
    return ((await once(service, 'message')) as [FixtureReply])[0]
  }

  const sidecar = await startSidecarProcess(['--target', fixture.exporterUrl, '--interval-ms', '1000'])
  children.push(sidecar.child)

  const prometheus = await startPrometheus({
    bin: prometheusBin,
    name: 'prometheus',
    dir,
    config: [
      'global:',
      `  scrape_interval: ${SCRAPE_SECONDS}s`,
      `  evaluation_interval: ${SCRAPE_SECONDS}s`,
      'rule_files:',
      ...RULE_FILES.map((f) => `  - ${JSON.stringify(f)}`),
      'scrape_configs:',
      '  - job_name: beamline',
      '    honor_labels: true',
      '    static_configs:',
      `      - targets: [${JSON.stringify(new URL(sidecar.url).host)}]`,
      '',
    ].join('\n'),
  })
  children.push(prometheus.child)
  const api = prometheus.api
  const start = Date.now() / 1000

  // --- load: normal, overload (with shedding), recovery -------------------------------------------
  let overloaded = 0
  let accepted = 0
  const hit = async (path: string): Promise<void> => {
    const res = await request(`http://127.0.0.1:${fixture.httpPort}${path}`, { dispatcher: driver })
    const body = await res.body.text()
    if (path.startsWith('/send')) {
      if (res.statusCode === 202) accepted++
      else if (res.statusCode === 503 && JSON.parse(body).error === 'overloaded') overloaded++
    } else if (res.statusCode === 503 && body.startsWith('{')) {
      overloaded++
    }
  }
  /**
   * `sends` and `dbCalls` requests every 100 ms for `seconds`; with `critical`, every other send and every
   * database call is critical (never shed), so the queue passes the shed threshold and the semaphore
   * sees the burst while everything else is shed.
   */
  const phase = async (
    seconds: number,
    sends: number,
    dbCalls: number,
    critical = false,
    works = 2,
  ): Promise<void> => {
    const inflight: Array<Promise<void>> = []
    for (let tick = 0; tick < seconds * 10; tick++) {
      // GET /work behind the adaptive limit: a quarter low priority, one in ten failing (dropped).
      for (let i = 0; i < works; i++) {
        // Counted over the whole run, so that the quiet phases, which nothing sheds, fail some too.
        const n = tick * works + i
        inflight.push(hit(`/work?${n % 4 === 0 ? 'low' : 'normal'}${n % 10 === 9 ? '&fail' : ''}`))
      }
      for (let i = 0; i < sends; i++) {
        const priority = critical && i % 2 === 0 ? '&priority=2' : ''
        inflight.push(hit(`/send?to=${(tick * sends + i) % 64}${priority}`))
      }
      for (let i = 0; i < dbCalls; i++) {
        const query = [i % 2 === 0 ? 'fail-fast' : '', critical ? 'priority=2' : ''].filter(Boolean).join('&')
        inflight.push(hit(`/db?${query}`))
      }
      await sleep(100)
    }
    await Promise.all(inflight)
  }
  await phase(4, 10, 2)
  // Overload: the sessions consumer slows down, the push consumer stalls for 3 s (its mailbox fills:
  // rejections, expiries), then resumes against a slow, failing upstream (bulkhead and throttle refuse).
  await command({
    drainPerTick: 1,
    deliverPerTick: 0,
    upstreamDelayMs: 150,
    upstreamFailRatio: 0.9,
    dbHoldMs: 40,
    workMs: 150,
  })
  await Promise.all([phase(8, 40, 20, true, 20), sleep(3_000).then(() => command({ deliverPerTick: 8 }))])
  await command({ drainPerTick: 50, upstreamDelayMs: 2, upstreamFailRatio: 0, dbHoldMs: 5, workMs: 5 })
  await phase(4, 10, 2)
  assert.ok(overloaded > 0, 'the overload phase made the service shed')
  assert.ok(accepted > 0)

  // Wait until Prometheus has scraped the final shed count: the one the driver received as 503s.
  const scalar = async (query: string): Promise<number> => {
    const r = await api('/api/v1/query', { query })
    assert.equal(r.status, 'success', `${query}: ${r.error}`)
    const v = r.data.result?.[0]?.value as [number, string] | undefined
    return v ? Number(v[1]) : Number.NaN
  }
  let shedSeen = Number.NaN
  for (let i = 0; i < 50 && shedSeen !== overloaded; i++) {
    shedSeen = await scalar('sum(beamline_shed_total{job="beamline"})')
    if (shedSeen !== overloaded) await sleep(200)
  }
  assert.equal(shedSeen, overloaded, 'every 503 the driver received is in beamline_shed_total')
  // No send after the last phase: the fixture's own count of channel refusals is final.
  const { channelRefused } = (await command({})).counts
  assert.ok(channelRefused > 0, 'the stalled consumer made the channel refuse')
  let refusedSeen = Number.NaN
  for (let i = 0; i < 50 && refusedSeen !== channelRefused; i++) {
    refusedSeen = await scalar('sum(beamline_channel_frames_total{job="beamline",direction="refused"})')
    if (refusedSeen !== channelRefused) await sleep(200)
  }
  assert.equal(refusedSeen, channelRefused, 'every refused trySend is in beamline_channel_frames_total')
  const end = Date.now() / 1000
  const window = `${Math.ceil(end - start) + 5}s`

  await t.test('what the overload did is what Prometheus shows', async () => {
    const sel = '{job="beamline",service="fixture"}'
    assert.equal(await scalar(`max(max_over_time(beamline_pressure_level_peak${sel}[${window}]))`), 2)
    assert.ok((await scalar(`max(max_over_time(beamline_pressure_score_peak${sel}[${window}]))`)) >= 1)
    assert.ok(
      (await scalar(
        `sum(beamline_mailbox_dropped_total{job="beamline",group="sessions",reason="overflow"})`,
      )) > 0,
    )
    assert.ok((await scalar(`sum(beamline_mailbox_rejected_total{job="beamline",group="push"})`)) > 0)
    assert.ok(
      (await scalar(`sum(beamline_mailbox_dropped_total{job="beamline",group="push",reason="expired"})`)) > 0,
    )
    assert.ok((await scalar(`sum(beamline_semaphore_rejected_total${sel})`)) > 0)
    assert.ok((await scalar(`sum(beamline_semaphore_timed_out_total${sel})`)) > 0)
    assert.ok((await scalar(`sum(beamline_undici_requests_total{job="beamline",outcome="rejected"})`)) > 0)
    assert.ok((await scalar(`sum(beamline_undici_requests_total{job="beamline",outcome="timed_out"})`)) > 0)
    assert.ok((await scalar(`max(max_over_time(beamline_undici_throttle_probability${sel}[${window}]))`)) > 0)
    // The adaptive limit at the door refused the slow phase's excess and counted the 5xx as dropped.
    assert.ok(
      (await scalar(`sum(beamline_limit_requests_total{job="beamline",limit="work",outcome!="acquired"})`)) >
        0,
    )
    assert.ok(
      (await scalar(`sum(beamline_limit_completed_total{job="beamline",limit="work",outcome="dropped"})`)) >
        0,
    )
    assert.ok(
      (await scalar(`sum(beamline_limit_requests_total{job="beamline",limit="work",partition="low"})`)) > 0,
    )
    // The level came back down once the consumer caught up.
    assert.equal(await scalar(`max(beamline_pressure_level${sel})`), 0)
  })

  const dashboards = readDashboards()
  const allValues = { job: '.*', service: '.*', instance: '.*', group: '.*' }
  const picked = {
    job: 'beamline',
    service: 'fixture',
    instance: escapeRegexValue(fixture.instance),
    group: 'sessions',
  }
  const builtins = {
    __rate_interval: RATE_INTERVAL,
    __interval: `${SCRAPE_SECONDS}s`,
    __range: window,
    __range_s: String(Math.ceil(end - start)),
  }

  await t.test('every variable query lists the fixture', async () => {
    const expected: Record<string, string[]> = {
      job: ['beamline'],
      service: ['fixture'],
      instance: [fixture.instance],
      group: ['sessions', 'push'],
    }
    for (const d of dashboards) {
      for (const v of d.templating.list) {
        if (v.type !== 'query') continue
        const m = /^label_values\((.*), (\w+)\)$/.exec(String(v.query))
        assert.ok(m, String(v.query))
        const r = await api(`/api/v1/label/${m[2]}/values`, {
          'match[]': interpolate(m[1]!, allValues),
          start: String(start),
          end: String(end),
        })
        assert.equal(r.status, 'success', `${d.title} $${v.name}: ${r.error}`)
        const values = r.data as unknown as string[]
        for (const e of expected[v.name] ?? assert.fail(`unexpected variable ${v.name}`)) {
          assert.ok(values.includes(e), `${d.title} $${v.name} lists ${e}: ${JSON.stringify(values)}`)
        }
      }
    }
  })

  for (const d of dashboards) {
    await t.test(`${d.title}: every panel query returns data`, async () => {
      const failures = await checkPanels(d)
      assert.deepEqual(failures, [])
    })
  }

  async function checkPanels(d: DashboardJson): Promise<string[]> {
    const failures: string[] = []
    const choices = [
      ['All', allValues],
      ['picked', picked],
    ] as const
    for (const { where, query, instant } of panelQueries(d, choices, builtins)) {
      const r = instant
        ? await api('/api/v1/query', { query, time: String(end) })
        : await api('/api/v1/query_range', {
            query,
            start: String(start),
            end: String(end),
            step: String(SCRAPE_SECONDS),
          })
      if (r.status !== 'success') failures.push(`${where}: ${r.error} in ${query}`)
      else if (!r.data.result?.some((s) => s.value !== undefined || (s.values ?? []).length > 0)) {
        failures.push(`${where}: no series for ${query}`)
      }
    }
    return failures
  }

  await t.test('every alert rule evaluates without error on the real series', async () => {
    const r = await api('/api/v1/rules', {})
    assert.equal(r.status, 'success')
    const rules = (
      r.data.groups as Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }>
    ).flatMap((g) => g.rules)
    assert.ok(rules.length >= 6)
    for (const rule of rules) assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError}`)
  })
})
