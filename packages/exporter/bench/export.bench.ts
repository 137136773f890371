/**
 * Service-side cost of exporting mailbox metrics, beamline vs prom-client's AggregatorRegistry with 8
 * cluster workers, at 1k and 10k mailboxes: wall time to serve all 8 workers' metrics, and the largest
 * event-loop delay any worker saw meanwhile. Then the cost of one snapshot in the service (≤ 1 ms
 * target) at 1k, 10k and 100k mailboxes.
 */
import cluster, { type Worker } from 'node:cluster'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { measureCases, median, printTable, reportTarget } from '@beamline/bench-kit'
import { AggregatorRegistry } from 'prom-client'
import { Client } from 'undici'
import { type Exporter, startExporter } from '../src/index.js'
import { snapshotJson } from '../src/snapshot.js'
import { benchRegistry } from './fixtures/mailboxes.js'

const WORKERS = 8
const ROUNDS = 15

function ask(worker: Worker, bench: 'reset' | 'read'): Promise<{ maxMs?: number }> {
  return new Promise((resolve) => {
    const on = (m: { bench?: string; maxMs?: number }) => {
      if (m.bench === bench) {
        worker.off('message', on)
        resolve(m)
      }
    }
    worker.on('message', on)
    worker.send({ bench })
  })
}

async function compare(mailboxes: number) {
  const dir = mkdtempSync(join(tmpdir(), 'beamline-bench-'))
  cluster.setupPrimary({
    exec: fileURLToPath(new URL('./fixtures/cluster-worker.js', import.meta.url)),
    silent: false,
  })
  const aggregator = new AggregatorRegistry()
  const workers: Worker[] = []
  const urls: string[] = []
  for (let i = 0; i < WORKERS; i++) {
    const w = cluster.fork({ MAILBOXES: String(mailboxes), SOCKET_DIR: dir })
    workers.push(w)
    urls.push(
      await new Promise<string>((resolve) =>
        w.on('message', (m: { bench?: string; url?: string }) => m.bench === 'ready' && resolve(m.url!)),
      ),
    )
  }
  const clients = urls.map((u) => new Client('http://localhost', { socketPath: u.slice(5) }))
  const pollAll = async () => {
    let bytes = 0
    await Promise.all(
      clients.map(async (c) => {
        const res = await c.request({ path: '/beamline/v1/snapshot', method: 'GET' })
        bytes += (await res.body.text()).length
      }),
    )
    return bytes
  }
  const cases = {
    // The noise floor: 10 processes share 2 cores, so a worker's loop is late by a few ms regardless.
    'idle (no scrape, 10 ms)': () => new Promise<number>((r) => setTimeout(() => r(0), 10)),
    'prom-client AggregatorRegistry': async () => (await aggregator.clusterMetrics()).length,
    'beamline exporter (8 snapshots)': pollAll,
  }
  const serve: Record<string, number[]> = {}
  const delay: Record<string, number[]> = {}
  const size: Record<string, number> = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of Object.entries(cases)) {
      await Promise.all(workers.map((w) => ask(w, 'reset')))
      const start = performance.now()
      size[name] = await fn()
      ;(serve[name] ??= []).push(performance.now() - start)
      await new Promise((r) => setTimeout(r, 30))
      const maxes = await Promise.all(workers.map((w) => ask(w, 'read')))
      ;(delay[name] ??= []).push(Math.max(...maxes.map((m) => m.maxMs!)))
    }
  }
  await Promise.all(clients.map((c) => c.close()))
  for (const w of workers) w.kill()
  rmSync(dir, { recursive: true, force: true })
  const rows = Object.keys(cases)
    .slice(1)
    .map((name) => ({
      name,
      value: median(serve[name]!),
      unit: 'ms',
      note: `${(size[name]! / 1024).toFixed(0)} KiB`,
    }))
  const ratios = printTable(
    `serve /metrics of ${WORKERS} workers, ${mailboxes} mailboxes each`,
    rows,
    'beamline exporter (8 snapshots)',
  )
  const eldRows = Object.keys(cases).map((name) => ({
    name,
    value: median(delay[name]!),
    unit: 'ms',
    note: 'max event-loop delay in a worker (1 ms resolution)',
  }))
  const eldRatios = printTable(
    `event-loop delay in the service, ${mailboxes} mailboxes`,
    eldRows,
    'beamline exporter (8 snapshots)',
  )
  const eldRatio = eldRatios.get('prom-client AggregatorRegistry')!
  const idle = median(delay['idle (no scrape, 10 ms)']!)
  const excess = (name: string) => Math.max(median(delay[name]!) - idle, 0.001)
  const excessRatio = excess('prom-client AggregatorRegistry') / excess('beamline exporter (8 snapshots)')
  reportTarget(
    `≥10× less event-loop delay (${mailboxes} mailboxes)`,
    eldRatio >= 10,
    `${eldRatio.toFixed(1)}× raw, ${excessRatio.toFixed(1)}× above the idle floor of ${idle.toFixed(1)} ms (serve ${ratios.get('prom-client AggregatorRegistry')!.toFixed(1)}× faster)`,
  )
}

async function snapshotCost() {
  const exporters: Array<[number, Exporter]> = []
  for (const n of [1000, 10_000, 100_000]) {
    exporters.push([
      n,
      await startExporter({ service: 'bench', registry: benchRegistry(n), listen: { port: 0 } }),
    ])
  }
  const rows = await measureCases(
    exporters.map(([n, e]) => ({
      name: `snapshot + JSON, ${n} mailboxes`,
      fn: () => snapshotJson(e.snapshot()),
    })),
    3,
  )
  printTable(
    'service-side cost of one snapshot (a real MailboxRegistry of N mailboxes)',
    rows.map((r) => ({ ...r, value: r.value / 1e6, unit: 'ms' })),
    rows[0]!.name,
  )
  for (const r of rows) reportTarget(`${r.name} ≤ 1 ms`, r.value <= 1e6, `${(r.value / 1e6).toFixed(3)} ms`)
  await Promise.all(exporters.map(([, e]) => e.close()))
}

if (cluster.isPrimary) {
  await compare(1000)
  await compare(10_000)
  await snapshotCost()
  process.exit(0)
}
