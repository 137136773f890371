/**
 * Soak: the sidecar's command line polling 200 real exporters (4 processes × 50, Unix sockets found
 * through --discover-dir) for 10 minutes, with churn of mailboxes (names appear and disappear every
 * second) and of targets (every 30 s each process closes its oldest exporter and starts a new one
 * under a new socket name). Every minute it records the sidecar's RSS, its live heap and off-heap
 * buffers after a full GC (asked by SIGUSR2, fixtures/heap-report), and its CPU time per target poll
 * (from /proc, over the polls of that minute, one /metrics scrape included, the full GC not), prints
 * the table and a verdict on whether memory and CPU stay flat. Not part of `npm test`:
 *
 *   node sidecar/dist/bench/soak.js [--minutes 10] [--targets 200]
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { median } from '@beamline/bench-kit'

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '10' }, targets: { type: 'string', default: '200' } },
})
const minutes = Number(values.minutes)
const targets = Number(values.targets)
if (!(minutes >= 1) || !(targets >= 4)) throw new Error('--minutes ≥ 1 and --targets ≥ 4')

const PROCESSES = 4
const TICKS = 100 // USER_HZ: /proc/<pid>/stat counts CPU in 1/100 s on Linux
const dir = mkdtempSync(join(tmpdir(), 'beamline-soak-'))
const children: ChildProcess[] = []
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}
process.on('exit', cleanup)

for (let i = 0; i < PROCESSES; i++) {
  const child = fork(fileURLToPath(new URL('./fixtures/soak-exporters.js', import.meta.url)), {
    env: { ...process.env, COUNT: String(Math.round(targets / PROCESSES)), DIR: dir, TAG: `p${i}` },
  })
  children.push(child)
  await once(child, 'message')
}
const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url))
const heapReport = fileURLToPath(new URL('./fixtures/heap-report.js', import.meta.url))
const sidecar = spawn(
  process.execPath,
  ['--expose-gc', '--import', heapReport, cli, '--listen', '127.0.0.1:0', '--discover-dir', dir],
  { stdio: ['ignore', 'ignore', 'pipe'] },
)
children.push(sidecar)
let log = ''
sidecar.stderr!.setEncoding('utf8')
const url = await new Promise<string>((resolve) => {
  sidecar.stderr!.on('data', (chunk: string) => {
    log += chunk
    const m = /serving (http:\/\/[^/\s]+)\/metrics/.exec(log)
    if (m) resolve(m[1]!)
  })
})

function usage(): { rssMb: number; cpuMs: number } {
  const status = readFileSync(`/proc/${sidecar.pid}/status`, 'utf8')
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)![1])
  const stat = readFileSync(`/proc/${sidecar.pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of the file, 12 and 13 after the command name.
  return { rssMb: rssKb / 1024, cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS }
}

/** The sidecar's live heap and off-heap buffers after a full GC, in MB (fixtures/heap-report). */
async function liveHeap(): Promise<{ heapMb: number; externalMb: number }> {
  const seen = log.length
  sidecar.kill('SIGUSR2')
  for (;;) {
    const m = /heap-report: ([\d.]+) ([\d.]+)\n/.exec(log.slice(seen))
    if (m) return { heapMb: Number(m[1]), externalMb: Number(m[2]) }
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function scrape(): Promise<{ polls: number; series: number; targets: number }> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const sum = (name: string) => {
    let n = 0
    for (const line of text.split('\n'))
      if (line.startsWith(name)) n += Number(line.slice(line.lastIndexOf(' ') + 1))
    return n
  }
  return {
    polls: sum('beamline_sidecar_polls_total{'),
    series: sum('beamline_sidecar_series '),
    targets: sum('beamline_sidecar_targets '),
  }
}

const replace = setInterval(() => {
  for (const c of children.slice(0, PROCESSES)) c.send({ cmd: 'replace' })
}, 30_000)

interface RowData {
  minute: number
  targets: number
  series: number
  rssMb: number
  heapMb: number
  externalMb: number
  cpuPerPollMs: number
}
const rows: RowData[] = []
let before = { ...usage(), ...(await scrape()) }
console.log(`soak: ${targets} targets, ${minutes} min, sidecar pid ${sidecar.pid}, ${url}`)
console.log('minute  targets  series  RSS MB  live heap MB  buffers MB  CPU ms / target poll')
for (let minute = 1; minute <= minutes; minute++) {
  await new Promise((r) => setTimeout(r, 60_000))
  // CPU is read before the heap report's full GC and again after it: the GC's cost is in no minute.
  const now = { ...(await scrape()), ...usage() }
  const heap = await liveHeap()
  const row = {
    minute,
    targets: now.targets,
    series: now.series,
    rssMb: now.rssMb,
    ...heap,
    cpuPerPollMs: (now.cpuMs - before.cpuMs) / Math.max(1, now.polls - before.polls),
  }
  rows.push(row)
  console.log(
    `${String(minute).padStart(6)}  ${String(row.targets).padStart(7)}  ${String(row.series).padStart(6)}  ${row.rssMb.toFixed(1).padStart(6)}  ${row.heapMb.toFixed(1).padStart(12)}  ${row.externalMb.toFixed(1).padStart(10)}  ${row.cpuPerPollMs.toFixed(3).padStart(8)}`,
  )
  before = { ...now, ...usage() }
}
clearInterval(replace)

// Flat: after the first minute (warm-up), the live heap after a full GC and the RSS each grow by less
// than 10 % (and 10 MB) from their lowest to the last minute, and the last minutes' CPU per poll is
// within 30 % of the run's median. The live heap is what a leak grows; RSS also follows how much
// garbage the collector lets build up.
const settled = rows.length > 2 ? rows.slice(1) : rows
const grows = (pick: (r: RowData) => number) => {
  const lowest = Math.min(...settled.map(pick))
  return {
    lowest,
    last: pick(settled.at(-1)!),
    flat: pick(settled.at(-1)!) - lowest < Math.max(10, lowest * 0.1),
  }
}
const rss = grows((r) => r.rssMb)
const heap = grows((r) => r.heapMb + r.externalMb)
const cpuMedian = median(settled.map((r) => r.cpuPerPollMs))
const cpuEnd = median(settled.slice(-3).map((r) => r.cpuPerPollMs))
const cpuFlat = Math.abs(cpuEnd - cpuMedian) <= cpuMedian * 0.3
console.log(
  `verdict: live heap + buffers ${heap.flat ? 'flat' : 'GROWING'} (${heap.lowest.toFixed(1)} → ${heap.last.toFixed(1)} MB), ` +
    `RSS ${rss.flat ? 'flat' : 'GROWING'} (${rss.lowest.toFixed(1)} → ${rss.last.toFixed(1)} MB after warm-up), ` +
    `CPU per poll ${cpuFlat ? 'flat' : 'DRIFTING'} (last 3 min ${cpuEnd.toFixed(3)} ms vs median ${cpuMedian.toFixed(3)} ms); ` +
    `${log.split('\n').filter((l) => l.includes('discovered')).length} targets discovered over the run`,
)
cleanup()
process.exit(0)
