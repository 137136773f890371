/**
 * End to end: `npm run demo -- --compare --duration 15` as a real child process (push provider, chat
 * service with 2 worker threads, sidecar and load generator are real processes too), with protection
 * and then without.
 *
 * Invariants checked: the demo exits 0; its one HTML report exists, is self-contained and holds a
 * row for every second of every phase of both runs, whose charts share their y-scales (drawn in
 * Chromium); the protected service shed load (503) during the burst and no longer at the end of
 * recovery; the protected service delivered every stored message to every member of its room exactly
 * once, in order (the demo's fan-out line, and deliveries = stored × members in the report's data);
 * the demo prints how recovery is measured and the `top` command of its sidecar; after the
 * demo exits — normally or on SIGINT, even twice as `npm run` and the terminal send it — none of its
 * child processes is alive and its temporary directory is gone.
 */
/// <reference lib="dom" />
// (DOM types for the functions page.evaluate runs in the browser.)
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, type TestContext, test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { chromium } from 'playwright-core'

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

/** The child pids of every scenario the demo ran. */
function childPids(stdout: string): number[] {
  const lines = [...stdout.matchAll(/^pids: (.*)$/gm)]
  assert.ok(lines.length > 0, `the demo prints its child pids:\n${stdout}`)
  return lines.flatMap((line) =>
    [...line[1]!.matchAll(/(provider|service|sidecar|loadgen)=(\d+)/g)].map((m) => Number(m[2])),
  )
}

/** The demo's own temporary directory, where the service's exporter socket is. */
function socketDir(stdout: string): string {
  const dir = /\(exporter unix:(\/\S+)\/chat-service-[\d-]+\.sock\)/.exec(stdout)?.[1]
  assert.ok(dir?.includes('beamline-demo-'), `the demo prints its exporter socket:\n${stdout}`)
  return dir!
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

interface Fanout {
  stored: number
  broadcasts: number
  deliveries: number
  outOfOrder: number
  membersPerRoom: number
  latencyMs: { p50: number | null; p99: number | null }
}

interface Report {
  path: string
  html: string
  runs: { protect: boolean; rows: Row[]; fanout?: Fanout }[]
  phases: { name: string; seconds: number }[]
}

function reportOf(stdout: string): Report {
  const path = /^report: (.*\.html)$/m.exec(stdout)?.[1]
  assert.ok(path, `the demo prints the report path:\n${stdout}`)
  assert.ok(path.startsWith(out))
  assert.ok(readdirSync(out).some((f) => /^demo-\d{8}-\d{6}.*\.html$/.test(f)))
  const html = readFileSync(path, 'utf8')
  const json = /<script id="demo-data" type="application\/json">(.*?)<\/script>/s.exec(html)?.[1]
  assert.ok(json, 'the report embeds its data')
  return { path, html, ...(JSON.parse(json) as Omit<Report, 'path' | 'html'>) }
}

/** Debian's chromium: the test skips its browser part without it, and fails under CI=true. */
function hasChromium(t: TestContext): boolean {
  if (existsSync('/usr/bin/chromium')) return true
  const message = '/usr/bin/chromium is missing: install the Debian package `chromium`'
  if (process.env['CI'] === 'true') throw new Error(message)
  t.diagnostic(`${message}; the report's charts were not drawn`)
  return false
}

test('npm run demo -- --compare --duration 15: both runs, one report on shared scales, a clean exit', {
  timeout: 150_000,
}, async (t) => {
  const { child, stdout } = run(['--compare', '--duration', '15'])
  const [code] = await once(child, 'exit')
  const text = stdout()
  assert.equal(code, 0, text)
  await assertGone(childPids(text))
  assert.equal(childPids(text).length, 8, 'two scenarios of four child processes')
  assert.equal(existsSync(socketDir(text)), false, 'temporary directory removed')

  // Where to look while it runs: the status page and the top command of its own sidecar.
  const sidecars = [...text.matchAll(/^sidecar +(http:\/\/127\.0\.0\.1:\d+)\/ /gm)].map((m) => m[1])
  const tops = [...text.matchAll(/^top +npx beamline-sidecar top --url (http:\/\/\S+) /gm)].map((m) => m[1])
  assert.equal(sidecars.length, 2, text)
  assert.deepEqual(tops, sidecars)
  assert.match(
    text,
    /^recovery: the first second from which 3 s in a row are healthy: per-second p99 within the normal band/m,
  )

  const { path, html, runs, phases } = reportOf(text)
  assert.match(path, /demo-\d{8}-\d{6}-compare\.html$/)
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
  assert.deepEqual(
    runs.map((r) => r.protect),
    [true, false],
  )
  for (const { protect, rows } of runs) {
    for (const p of phases) {
      const own = rows.filter((r) => r.phase === p.name)
      assert.equal(own.length, p.seconds, `one row per second of ${p.name}, protect=${protect}`)
      assert.ok(
        own.every((r) => r.offered > 0),
        `load was offered during ${p.name}`,
      )
    }
  }
  const rows = runs[0]!.rows
  const sum = (rs: Row[], k: keyof Row) => rs.reduce((a, r) => a + (r[k] as number), 0)
  const burst = rows.filter((r) => r.phase === 'burst')
  assert.ok(
    sum(burst, 'shed') > 0.2 * sum(burst, 'offered'),
    `shed during the burst: ${JSON.stringify(burst)}`,
  )
  assert.ok(sum(burst, 'admitted') > 0, 'still served during the burst')
  const tail = rows.filter((r) => r.phase === 'recovery').slice(-2)
  // Not one refusal was the first version: on a 2-core machine shared with the rest of the suite,
  // one stall of the event loop sheds a request or two (seen once: 1 of ~900 at t=13).
  assert.ok(
    sum(tail, 'shed') <= 0.02 * sum(tail, 'offered'),
    `no shedding at the end of recovery (2 % at most): ${JSON.stringify(tail)}`,
  )
  assert.ok(sum(tail, 'admitted') > 0.8 * sum(tail, 'offered'), `served again: ${JSON.stringify(tail)}`)
  // One outcome sentence per phase and run, printed and in the report.
  const [withIt, without] = text.split(/^without protection:$/m)
  assert.ok(without !== undefined && /^with protection:$/m.test(withIt!), text)
  for (const part of [withIt!.slice(withIt!.lastIndexOf('with protection:')), without])
    for (const p of phases) assert.match(part, new RegExp(`^${p.name}\\s+\\S`, 'm'))
  // Room broadcasts through Manifold: every member got every stored message once, in order.
  assert.match(
    withIt!,
    /^fan-out +[\d,]+ messages stored, [\d,]+ broadcast .* every member got every message exactly once, in order; store → delivery p50 .+, p99 .+\.$/m,
  )
  const fanout = runs[0]!.fanout!
  assert.ok(fanout.stored > 0 && fanout.membersPerRoom > 1, JSON.stringify(fanout))
  assert.equal(fanout.broadcasts, fanout.stored)
  assert.equal(fanout.deliveries, fanout.stored * fanout.membersPerRoom)
  assert.equal(fanout.outOfOrder, 0)
  assert.match(html, /<b>Room broadcasts:<\/b> [\d,]+ messages stored/)

  // Drawn: each chart of one run has the y-range of the same chart of the other.
  if (!hasChromium(t)) return
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox'],
  })
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 900 } })
    const problems: string[] = []
    page.on('pageerror', (err) => problems.push(err.message))
    await page.goto(pathToFileURL(path).href)
    await page.waitForFunction(() => document.querySelectorAll('[data-y-range]').length === 12)
    const ranges = await page.$$eval('[data-y-range]', (els) =>
      Object.fromEntries(els.map((e) => [e.id, (e as HTMLElement).dataset['yRange']])),
    )
    for (const chart of ['rate', 'lat', 'queue', 'pressure', 'db', 'limit'])
      assert.equal(ranges[`c-${chart}-0`], ranges[`c-${chart}-1`], `${chart}: ${JSON.stringify(ranges)}`)
    assert.deepEqual(problems, [])
  } finally {
    await browser.close()
  }
})

test('SIGINT, even twice as npm run and the terminal send it, stops the demo, every child and removes its temp dir', {
  timeout: 45_000,
}, async () => {
  const { child, stdout } = run(['--duration', '60'])
  // Wait for the first per-second line, then interrupt as Ctrl-C would.
  for (let i = 0; i < 300 && !/\[\s*2\/60s\]/.test(stdout()); i++)
    await new Promise((r) => setTimeout(r, 100))
  assert.match(stdout(), /\[\s*2\/60s\]/, stdout())
  const pids = childPids(stdout())
  const dir = socketDir(stdout())
  assert.ok(existsSync(dir))
  const started = Date.now()
  // `npm run demo` passes Ctrl-C on to the demo, which the terminal also sends it: two SIGINTs.
  child.kill('SIGINT')
  child.kill('SIGINT')
  const [code, signal] = await once(child, 'exit')
  assert.deepEqual({ code, signal }, { code: 130, signal: null }, stdout())
  assert.ok(Date.now() - started < 10_000, 'stopped within 10 s')
  await assertGone(pids)
  assert.match(stdout(), /interrupted/)
  assert.equal(existsSync(dir), false, `${dir} removed`)
  // What was measured before the interruption is still reported.
  assert.ok(reportOf(stdout()).runs[0]!.rows.length >= 2)
})
