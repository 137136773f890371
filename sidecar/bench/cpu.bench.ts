/**
 * The sidecar's CPU per target per poll with 100 targets (4 processes × 25 exporters): process CPU time
 * of the sidecar over a run of poll cycles, divided by cycles × targets. Scrapes of /metrics are
 * counted separately.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { median, printTable, reportTarget } from '@beamline/bench-kit'
import { sidecarConfig, startSidecar } from '../src/index.js'

const PROCESSES = 4
const PER_PROCESS = 25
const children: ChildProcess[] = []
const urls: string[] = []
for (let i = 0; i < PROCESSES; i++) {
  const child = fork(fileURLToPath(new URL('./fixtures/many-exporters.js', import.meta.url)), {
    env: { ...process.env, COUNT: String(PER_PROCESS) },
  })
  children.push(child)
  const [msg] = (await once(child, 'message')) as [{ urls: string[] }]
  urls.push(...msg.urls)
}
const intervalMs = 500
const sidecar = await startSidecar(sidecarConfig({ targets: urls, intervalMs, listen: '127.0.0.1:0' }), {
  log: () => {},
})
await sidecar.ready
await new Promise((r) => setTimeout(r, 3000))
const perPoll: number[] = []
const scrape: number[] = []
for (let run = 0; run < 3; run++) {
  const polls0 = sidecar.store.pollsOk + sidecar.store.pollsFailed
  const cpu0 = process.cpuUsage()
  await new Promise((r) => setTimeout(r, 5000))
  const cpu = process.cpuUsage(cpu0)
  const polls = sidecar.store.pollsOk + sidecar.store.pollsFailed - polls0
  perPoll.push((cpu.user + cpu.system) / 1000 / polls)
  const s0 = process.cpuUsage()
  const body = await (await fetch(`${sidecar.url}/metrics`)).text()
  const s = process.cpuUsage(s0)
  scrape.push((s.user + s.system) / 1000)
  if (run === 0)
    console.log(
      `/metrics: ${(body.length / 1024).toFixed(0)} KiB, ${sidecar.store.seriesCount} series, ${sidecar.store.pollsFailed} failed polls`,
    )
}
printTable(
  `sidecar CPU, ${urls.length} targets polled every ${intervalMs} ms`,
  [
    {
      name: 'per target per poll',
      value: median(perPoll),
      unit: 'ms',
      note: 'fetch + JSON.parse + schema + series + rates',
    },
    { name: 'one /metrics scrape', value: median(scrape), unit: 'ms', note: 'all targets' },
  ],
  'per target per poll',
)
reportTarget(
  'sidecar keeps up: 100 targets at 1 s use < 50% of a core',
  median(perPoll) * 100 < 500,
  `${((median(perPoll) * 100) / 10).toFixed(1)}% of a core at 1 s polls`,
)
await sidecar.close()
for (const c of children) c.kill()
process.exit(0)
