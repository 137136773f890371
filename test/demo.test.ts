/**
 * End to end: `npm run demo -- --duration 15` as a real child process (push provider, chat service
 * with 2 worker threads, sidecar and load generator are real processes too).
 *
 * Invariants checked: the demo exits 0; its HTML report exists, is self-contained and holds a row for
 * every second of every phase; the service shed load (503) during the burst and no longer at the end
 * of recovery; after the demo exits — normally or on SIGINT — none of its child processes is alive.
 */

import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const demo = join(root, 'examples/chat-service/dist/src/demo.js')
const out = mkdtempSync(join(tmpdir(), 'beamline-demo-test-'))
after(() => rmSync(out, { recursive: true, force: true }))

interface Row {
  t: number
  phase: string
  offered: number
  admitted: number
  shed: number
  failed: number
}

function run(args: string[]): { child: ChildProcess; stdout: () => string } {
  const child = spawn(process.execPath, [demo, '--out', out, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let text = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (text += s))
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (text += s))
  return { child, stdout: () => text }
}

function childPids(stdout: string): number[] {
  const line = /^pids: (.*)$/m.exec(stdout)
  assert.ok(line, `the demo prints its child pids:\n${stdout}`)
  return [...line[1]!.matchAll(/(provider|service|sidecar|loadgen)=(\d+)/g)].map((m) => Number(m[2]))
}

async function assertGone(pids: number[]): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0)
      return true
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'ESRCH'
    }
  }
  // The demo waits for its children before exiting; allow a moment for the kernel to reap them.
  for (let i = 0; i < 40 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 50))
  assert.deepEqual(pids.filter(alive), [], 'child processes left behind')
}

function reportOf(stdout: string): {
  html: string
  rows: Row[]
  phases: { name: string; seconds: number }[]
} {
  const path = /^report: (.*\.html)$/m.exec(stdout)?.[1]
  assert.ok(path, `the demo prints the report path:\n${stdout}`)
  assert.ok(path.startsWith(out))
  assert.ok(readdirSync(out).some((f) => /^demo-\d{8}-\d{6}.*\.html$/.test(f)))
  const html = readFileSync(path, 'utf8')
  const json = /<script id="demo-data" type="application\/json">(.*?)<\/script>/s.exec(html)?.[1]
  assert.ok(json, 'the report embeds its data')
  return { html, ...(JSON.parse(json) as { rows: Row[]; phases: { name: string; seconds: number }[] }) }
}

test('npm run demo -- --duration 15: a full run, its report and its clean exit', {
  timeout: 75_000,
}, async () => {
  const { child, stdout } = run(['--duration', '15'])
  const [code] = await once(child, 'exit')
  const text = stdout()
  assert.equal(code, 0, text)
  await assertGone(childPids(text))

  const { html, rows, phases } = reportOf(text)
  // Self-contained: uPlot inlined, nothing fetched.
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|@import/i)
  assert.match(html, /uPlot/)
  assert.deepEqual(
    phases.map((p) => p.name),
    ['warm-up', 'normal', 'burst', 'slowdown', 'recovery'],
  )
  assert.equal(
    phases.reduce((a, p) => a + p.seconds, 0),
    15,
  )
  for (const p of phases) {
    const own = rows.filter((r) => r.phase === p.name)
    assert.equal(own.length, p.seconds, `one row per second of ${p.name}`)
    assert.ok(
      own.every((r) => r.offered > 0),
      `load was offered during ${p.name}`,
    )
  }
  const sum = (rs: Row[], k: keyof Row) => rs.reduce((a, r) => a + (r[k] as number), 0)
  const burst = rows.filter((r) => r.phase === 'burst')
  assert.ok(
    sum(burst, 'shed') > 0.2 * sum(burst, 'offered'),
    `shed during the burst: ${JSON.stringify(burst)}`,
  )
  assert.ok(sum(burst, 'admitted') > 0, 'still served during the burst')
  const tail = rows.filter((r) => r.phase === 'recovery').slice(-2)
  assert.equal(sum(tail, 'shed'), 0, `no shedding at the end of recovery: ${JSON.stringify(tail)}`)
  assert.ok(sum(tail, 'admitted') > 0.8 * sum(tail, 'offered'), `served again: ${JSON.stringify(tail)}`)
  // One outcome sentence per phase, printed and in the report.
  for (const p of phases) assert.match(text, new RegExp(`^${p.name}\\s+\\S`, 'm'))
})

test('SIGINT stops the demo and every child process', { timeout: 45_000 }, async () => {
  const { child, stdout } = run(['--duration', '60'])
  // Wait for the first per-second line, then interrupt as Ctrl-C would.
  for (let i = 0; i < 300 && !/\[\s*2\/60s\]/.test(stdout()); i++)
    await new Promise((r) => setTimeout(r, 100))
  assert.match(stdout(), /\[\s*2\/60s\]/, stdout())
  const pids = childPids(stdout())
  const started = Date.now()
  child.kill('SIGINT')
  const [code] = await once(child, 'exit')
  assert.equal(code, 130, stdout())
  assert.ok(Date.now() - started < 10_000, 'stopped within 10 s')
  await assertGone(pids)
  assert.match(stdout(), /interrupted/)
  // What was measured before the interruption is still reported.
  assert.ok(reportOf(stdout()).rows.length >= 2)
})
