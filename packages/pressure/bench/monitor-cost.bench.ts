/**
 * What the monitor costs: CPU time of an otherwise idle process over 10 s with a PressureMonitor
 * sampling every signal at 100 ms (queue signals from a registry of 1 000 mailboxes) against the same
 * process without one, interleaved 3 times. Target: ≤ 1 % of one core. Also the hot path: `level`
 * and `admit()` in ns per call, against a bare Atomics.load, and the seqlock-validated reads
 * (`score`, `signals()`).
 *
 *   node --expose-gc dist/bench/monitor-cost.bench.js
 */

import { measureCases, median, printTable, reportTarget } from '@beamline/bench-kit'
import { MailboxRegistry } from '@beamline/mailbox'
import { PressureMonitor } from '../src/index.js'

const SECONDS = 10

async function cpuPercent(withMonitor: boolean, registry: MailboxRegistry): Promise<number> {
  const monitor = withMonitor ? new PressureMonitor({ registry, sampleIntervalMs: 100 }) : undefined
  const before = process.cpuUsage()
  const wall = performance.now()
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1_000))
  const used = process.cpuUsage(before)
  monitor?.stop()
  return ((used.user + used.system) / 1_000 / (performance.now() - wall)) * 100
}

const registry = new MailboxRegistry()
const boxes = Array.from({ length: 1_000 }, (_, i) =>
  registry.mailbox<number>(`m${i}`, { group: `g${i % 10}` }),
)
for (const [i, box] of boxes.entries()) for (let j = 0; j < i % 7; j++) box.push(j)

const idle: number[] = []
const monitored: number[] = []
for (let run = 0; run < 3; run++) {
  idle.push(await cpuPercent(false, registry))
  monitored.push(await cpuPercent(true, registry))
}
const overhead = median(monitored) - median(idle)
printTable(
  'CPU of an idle process, % of one core',
  [
    { name: 'no monitor', value: median(idle), unit: '%' },
    { name: 'monitor, 6 signals, 100 ms', value: median(monitored), unit: '%' },
  ],
  'no monitor',
)
reportTarget('monitor CPU at 100 ms sampling ≤ 1 %', overhead <= 1, `${overhead.toFixed(2)} % of one core`)

const monitor = new PressureMonitor({ registry, sampleIntervalMs: 100 })
const word = new Int32Array(new SharedArrayBuffer(4))
const rows = await measureCases([
  { name: 'Atomics.load (floor)', fn: () => Atomics.load(word, 0) },
  { name: 'pressure.level', fn: () => monitor.level },
  { name: 'pressure.admit()', fn: () => monitor.admit() },
  { name: 'pressure.score (seqlock read)', fn: () => monitor.score },
  { name: 'pressure.signals() (seqlock read)', fn: () => monitor.signals() },
  { name: 'pressure.sample() (all signals)', fn: () => monitor.sample() },
])
printTable('hot path', rows, 'Atomics.load (floor)')
monitor.stop()
registry.close()
