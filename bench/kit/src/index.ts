/**
 * The machine is shared and noisy, so a benchmark here never reports one number: it measures every
 * case `runs` times in one process, interleaved, takes the median of the per-run medians, and prints
 * each case as a ratio to a baseline measured in the same run (a peer, or a physical floor such as a
 * bare Atomics pair). Nanosecond cases go through mitata, which batches calls so that timer overhead
 * does not swamp a 20 ns operation.
 */
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { do_not_optimize, measure } from 'mitata'

export { do_not_optimize }

export interface Case {
  /** Row label, e.g. `beamline tryAcquire+release`. */
  name: string
  /** One operation. Return a value so the JIT cannot drop the work. */
  fn: () => unknown
}

export interface Row {
  name: string
  /** Median nanoseconds per operation (or the unit in `unit`). */
  value: number
  unit?: string
  note?: string
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Measures each case `runs` times, interleaved, and returns the median of mitata's p50 in ns per op. */
export async function measureCases(cases: readonly Case[], runs = 5): Promise<Row[]> {
  const samples = cases.map(() => [] as number[])
  for (let run = 0; run < runs; run++) {
    for (let i = 0; i < cases.length; i++) {
      const stats = await measure(cases[i]!.fn, { min_cpu_time: 100e6 })
      samples[i]!.push(stats.p50)
    }
  }
  return cases.map((c, i) => ({ name: c.name, value: median(samples[i]!), unit: 'ns/op' }))
}

/** Times `fn` (which may be async) `runs` times and returns the median wall time in milliseconds. */
export async function medianMs(fn: () => unknown, runs = 5): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    await fn()
    times.push(performance.now() - start)
  }
  return median(times)
}

function format(value: number): string {
  if (value >= 100) return value.toFixed(0)
  if (value >= 10) return value.toFixed(1)
  return value.toFixed(2)
}

/**
 * Prints rows with their ratio to the row named `baseline` (`×` > 1 means slower than the baseline
 * when the unit is a cost, such as ns/op). Returns the ratios by row name for callers that check targets.
 */
export function printTable(title: string, rows: readonly Row[], baseline: string): Map<string, number> {
  const base = rows.find((r) => r.name === baseline)
  if (!base) throw new Error(`printTable: no row named ${baseline}`)
  const ratios = new Map<string, number>()
  const width = Math.max(...rows.map((r) => r.name.length), 10)
  console.log(`\n${title}  (median of runs; ratio to "${baseline}")`)
  console.log(`${'case'.padEnd(width)}  ${'value'.padStart(12)}  ${'ratio'.padStart(8)}  note`)
  for (const r of rows) {
    const ratio = r.value / base.value
    ratios.set(r.name, ratio)
    const value = `${format(r.value)} ${r.unit ?? 'ns/op'}`
    console.log(
      `${r.name.padEnd(width)}  ${value.padStart(12)}  ${`${format(ratio)}×`.padStart(8)}  ${r.note ?? ''}`,
    )
  }
  return ratios
}

/**
 * Contention across real threads: starts `threads` workers from `source` (CommonJS, `eval`), each
 * given `workerData`; once all are up, posts 'go' to each, and each must post back the milliseconds
 * its `ops` operations took. Returns nanoseconds per operation over all threads (the slowest
 * thread's time / all operations), so that a counter the threads fight over shows its cost.
 */
export async function inThreads(
  source: string,
  workerData: object,
  ops: number,
  threads = 2,
): Promise<number> {
  const workers = Array.from({ length: threads }, () => new Worker(source, { eval: true, workerData }))
  await new Promise((r) => setTimeout(r, 200))
  for (const w of workers) w.postMessage('go')
  const elapsed = await Promise.all(workers.map(async (w) => (await once(w, 'message'))[0] as number))
  await Promise.all(workers.map((w) => w.terminate()))
  return (Math.max(...elapsed) * 1e6) / (threads * ops)
}

export interface ContendedOptions {
  /** Table title. */
  title: string
  /** URL of the module exporting `className`, whose `attach(handle)` each worker calls. */
  url: string
  className: string
  handle: unknown
  /** One operation on the attached object `s`, as JavaScript source, e.g. `s.tryAcquire(); s.release()`. */
  op: string
  /** The floor's operation on the shared Int32Array `counter`, e.g. `Atomics.add(counter, 0, 1)`. */
  floorOp: string
  /** Row labels of the floor (the baseline) and of the measured object. */
  floorName: string
  subjectName: string
  /** Operations per thread per run. Default 2 000 000. */
  ops?: number
  /** Interleaved runs of each; the median is printed. Default 3. */
  runs?: number
}

/**
 * Two threads on one shared object against two threads on the floor (`floorOp` on one shared
 * counter, cache-line ping-pong included), interleaved run by run, printed as a table with the
 * in-process peers' row marked as unable to share across threads. Returns the table's ratios.
 */
export async function contendedAgainstFloor(o: ContendedOptions): Promise<Map<string, number>> {
  const ops = o.ops ?? 2_000_000
  const source = `
    const { workerData, parentPort } = require('node:worker_threads')
    import(workerData.url).then((m) => {
      const s = workerData.handle ? m[${JSON.stringify(o.className)}].attach(workerData.handle) : null
      const counter = new Int32Array(workerData.counter)
      parentPort.once('message', () => {
        const start = performance.now()
        if (s) for (let i = 0; i < workerData.ops; i++) { ${o.op} }
        else for (let i = 0; i < workerData.ops; i++) { ${o.floorOp} }
        parentPort.postMessage(performance.now() - start)
      })
    })`
  const counter = new SharedArrayBuffer(64)
  const run = (handle: unknown) => inThreads(source, { url: o.url, handle, counter, ops }, ops)
  const floor: number[] = []
  const subject: number[] = []
  for (let r = 0; r < (o.runs ?? 3); r++) {
    floor.push(await run(null))
    subject.push(await run(o.handle))
  }
  return printTable(
    o.title,
    [
      { name: o.floorName, value: median(floor) },
      { name: o.subjectName, value: median(subject) },
      {
        name: 'async-sema / p-limit / cockatiel',
        value: Number.NaN,
        note: 'cannot share a limit across threads',
      },
    ],
    o.floorName,
  )
}

/** Prints whether a measured value meets a target, without failing: benchmarks are not tests. */
export function reportTarget(label: string, ok: boolean, detail: string): void {
  console.log(`${ok ? 'target met   ' : 'target MISSED'}  ${label}: ${detail}`)
}
