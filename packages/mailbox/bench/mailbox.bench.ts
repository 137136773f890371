/**
 * Mailbox against its peers, in one run:
 *  1. push+shift pair, queue empty between pairs and at a steady depth of 100, against a plain Array
 *     queue and denque (the uninstrumented deque). Target: ≤ 1.5× denque and ≤ 60 ns.
 *  2. registry.stats(), top(10) and snapshot(10) (both in one pass) at 1k / 10k / 100k live mailboxes.
 *     Target: stats() ≤ 5 ms at 100k.
 *  3. the life of a short-lived mailbox (open, push, shift, close: a claim and a fold of its slot),
 *     against a fresh denque, the floor of "a queue per session".
 *  4. memory per idle mailbox (JS heap after GC, plus the shared slot).
 */
import { do_not_optimize, measureCases, medianMs, printTable, reportTarget } from '@beamline/bench-kit'
import Denque from 'denque'
import { type Mailbox, MailboxRegistry } from '../src/index.js'

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')

async function pairs(): Promise<void> {
  const registry = new MailboxRegistry({ capacity: 16 })
  const cases = []
  for (const depth of [0, 100]) {
    const array: number[] = []
    const deque = new Denque<number>()
    const mb = registry.mailbox<number>(`pair-${depth}`, { capacity: 10_000 })
    const aged = registry.mailbox<number>(`aged-${depth}`, {
      capacity: 10_000,
      maxAgeMs: 60_000,
      overload: { targetMs: 5, intervalMs: 100 },
    })
    for (let i = 0; i < depth; i++) {
      array.push(i)
      deque.push(i)
      mb.push(i)
      aged.push(i)
    }
    cases.push(
      {
        name: `Array push+shift (depth ${depth})`,
        fn: () => {
          array.push(1)
          return array.shift()
        },
      },
      {
        name: `denque push+shift (depth ${depth})`,
        fn: () => {
          deque.push(1)
          return deque.shift()
        },
      },
      {
        name: `mailbox push+shift (depth ${depth})`,
        fn: () => {
          mb.push(1)
          return mb.shift()
        },
      },
      {
        name: `mailbox +maxAge+overload (depth ${depth})`,
        fn: () => {
          aged.push(1)
          return aged.shift()
        },
      },
    )
  }
  const rows = await measureCases(cases, 5)
  for (const depth of [0, 100]) {
    const pick = (prefix: string) =>
      rows.filter((r) => r.name.endsWith(`(depth ${depth})`) && r.name.startsWith(prefix))
    const table = [...pick('Array'), ...pick('denque'), ...pick('mailbox')]
    const ratios = printTable(`push+shift pair, depth ${depth}`, table, `denque push+shift (depth ${depth})`)
    const mb = table.find((r) => r.name.startsWith('mailbox push'))!
    const ratio = ratios.get(mb.name)!
    reportTarget(`push+shift depth ${depth} ≤ 60 ns`, mb.value <= 60, `${mb.value.toFixed(1)} ns`)
    reportTarget(`push+shift depth ${depth} ≤ 1.5× denque`, ratio <= 1.5, `${ratio.toFixed(2)}×`)
  }
}

async function scans(): Promise<void> {
  for (const n of [1_000, 10_000, 100_000]) {
    const registry = new MailboxRegistry({ capacity: n, maxGroups: 64 })
    const boxes: Mailbox<number>[] = []
    for (let i = 0; i < n; i++) {
      const mb = registry.mailbox<number>(`session:${i}`, { group: `g${i % 16}`, capacity: 100 })
      for (let k = i % 7; k > 0; k--) mb.push(k)
      boxes.push(mb)
    }
    const statsMs = await medianMs(() => do_not_optimize(registry.stats()), 21)
    const topMs = await medianMs(() => do_not_optimize(registry.top(10)), 21)
    const snapshotMs = await medianMs(() => do_not_optimize(registry.snapshot(10)), 21)
    const total = registry.stats().totalQueued
    console.log(
      `\nregistry.stats() over ${n} mailboxes: ${statsMs.toFixed(3)} ms; top(10): ${topMs.toFixed(3)} ms; ` +
        `snapshot(10), both in one pass: ${snapshotMs.toFixed(3)} ms = ${(snapshotMs / (statsMs + topMs)).toFixed(2)}× the two calls (totalQueued ${total})`,
    )
    if (n === 100_000) reportTarget('stats() at 100k ≤ 5 ms', statsMs <= 5, `${statsMs.toFixed(2)} ms`)
    for (const mb of boxes) {
      mb.drain()
      mb.close()
    }
  }
}

async function lifecycle(): Promise<void> {
  const registry = new MailboxRegistry({ capacity: 1024 })
  const rows = await measureCases(
    [
      {
        name: 'denque new+push+shift',
        fn: () => {
          const deque = new Denque<number>()
          deque.push(1)
          deque.shift()
          return deque
        },
      },
      {
        name: 'mailbox open+push+shift+close',
        fn: () => {
          const mb = registry.mailbox<number>('session', { group: 'sessions' })
          mb.push(1)
          mb.shift()
          mb.close()
          return mb
        },
      },
    ],
    5,
  )
  printTable('short-lived mailbox: open, push, shift, close', rows, 'denque new+push+shift')
}

function memory(): void {
  const n = 20_000
  const registry = new MailboxRegistry({ capacity: n })
  gc!()
  const before = process.memoryUsage().heapUsed
  const boxes: Mailbox<number>[] = []
  for (let i = 0; i < n; i++) boxes.push(registry.mailbox<number>(`session:${i}`, { group: 'sessions' }))
  gc!()
  const heap = (process.memoryUsage().heapUsed - before) / n
  console.log(
    `\nmemory per idle mailbox: ${heap.toFixed(0)} B JS heap + ${registry.bytesPerSlot} B shared slot (${n} mailboxes, default options)`,
  )
  do_not_optimize(boxes)
}

await pairs()
await scans()
await lifecycle()
memory()
