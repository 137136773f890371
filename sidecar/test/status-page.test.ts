/**
 * The status page in real Chromium (Debian's `chromium`, driven by playwright-core), served by the
 * sidecar's command line polling a real service (fixtures/status-service.ts) and a target that is down.
 *
 * Invariants checked: every asset comes from the sidecar under a CSP of `script-src 'self'`; the page
 * logs no console error and throws nothing; after data arrives every chart holds points and the queued
 * and rate charts have their lines drawn on the canvas; the top table lists the service's mailboxes,
 * hostile names as text (no element is created from them); the channels table shows each channel's
 * fill, frames per second in and out and refusals, its fill bar marked full when the ring is; the
 * down target shows with its reason; a
 * sidecar with no targets renders its empty states without errors; a sidecar that goes away is
 * reported as unreachable. The screenshot goes to test-artifacts/status-page.png.
 */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// (DOM types for the functions page.evaluate runs in the browser.)
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'
import { MARKUP_NAME } from './fixtures/hostile-names.js'
import { type SidecarProcess, startSidecarProcess } from './helpers.js'
import { requireTool, type StatusRig, startStatusRig } from './status-helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url))

/** Opens `url` in a new page, recording console errors, page errors and requests to other origins. */
async function open(browser: Browser, url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } })
  const problems: string[] = []
  const origin = new URL(url).origin
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`)
  })
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:'))
      problems.push(`off-origin request: ${r.url()}`)
  })
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`)
    void d.dismiss()
  })
  const res = await page.goto(url)
  assert.equal(res?.status(), 200)
  return { page, problems }
}

/** Pixels of the chart's canvas within a small distance of `hex` (its line colour). */
function linePixels(page: Page, chartId: string, hex: string): Promise<number> {
  return page.evaluate(
    ([id, color]) => {
      const canvas = document.querySelector<HTMLCanvasElement>(`#${id} canvas`)!
      const ctx = canvas.getContext('2d')!
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height)
      const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(color.slice(i, i + 2), 16))
      let n = 0
      for (let i = 0; i < data.length; i += 4) {
        if (
          data[i + 3]! > 200 &&
          Math.abs(data[i]! - r!) + Math.abs(data[i + 1]! - g!) + Math.abs(data[i + 2]! - b!) < 40
        )
          n++
      }
      return n
    },
    [chartId, hex] as const,
  )
}

describe('status page in Chromium', () => {
  let browser: Browser | undefined
  let rig: StatusRig | undefined
  let empty: SidecarProcess | undefined

  before(async () => {
    // Without Chromium each test skips (or fails under CI) on its own.
    if (!existsSync(CHROMIUM)) return
    rig = await startStatusRig()
    // playwright gives every launch a fresh temporary profile.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
  })

  after(async () => {
    await browser?.close()
    await rig?.close()
    if (empty?.child.exitCode === null) empty.child.kill('SIGTERM')
  })

  it('draws live charts and lists the mailboxes, targets, semaphores and channels', async (t) => {
    if (!requireTool(t, CHROMIUM, 'chromium') || !browser || !rig) return
    const { page, problems } = await open(browser, `${rig.sidecar.url}/`)

    const csp = await (await fetch(`${rig.sidecar.url}/`)).headers.get('content-security-policy')
    assert.match(csp ?? '', /script-src 'self'/)
    assert.match(csp ?? '', /default-src 'none'/)

    // Points arrive once per poll (500 ms): wait for a few, then for the lines to be on the canvas.
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll<HTMLElement>('.uplot')].every((u) => Number(u.dataset['points']) >= 6),
      undefined,
      { timeout: 30_000 },
    )
    const points = await page.$$eval('.uplot', (els) =>
      els.map((e) => Number((e as HTMLElement).dataset['points'])),
    )
    assert.equal(points.length, 3)
    assert.ok((await linePixels(page, 'chart-queued', '#2563eb')) > 50, 'queued line drawn')
    assert.ok((await linePixels(page, 'chart-rates', '#0891b2')) > 50, 'enqueued line drawn')

    await page.waitForFunction(() =>
      [...document.querySelectorAll('#mailboxes td.name')].some((td) => td.textContent === 'session:alice'),
    )
    const names = await page.$$eval('#mailboxes tbody tr td:first-child', (tds) =>
      tds.map((td) => td.textContent),
    )
    for (const n of ['session:alice', 'session:bob', 'session:carol', 'push:apns', 'push:fcm', MARKUP_NAME])
      assert.ok(names.includes(n), `${n} listed in ${JSON.stringify(names)}`)
    // Longest first: alice falls behind by 400 messages a second.
    assert.equal(names[0], 'session:alice')
    assert.equal(
      await page.locator('#mailboxes img, #targets img, #semaphores img, #channels img').count(),
      0,
    )

    const targets = await page.$$eval('#targets tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''))
    assert.equal(targets.length, 2)
    assert.ok(targets.some((r) => r.includes('chat-fixture') && r.includes('up')))
    assert.ok(targets.some((r) => r.includes(rig!.deadTarget) && r.includes('down')))
    assert.equal(await page.locator('#t-targets').innerText(), '1 of 2')
    assert.equal(await page.locator('#t-targets-sub').innerText(), '1 down')
    assert.match(await page.locator('#semaphores tbody').innerText(), /db[\s\S]*\/ 8/)

    // Channels: each with its fill bar, and once two polls have given rates, frames / s in and out.
    const channelCells = async () => {
      const rows = await page.$$eval('#channels tbody tr', (trs) =>
        trs.map((tr) => ({
          cells: [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''),
          fill: tr.querySelector('.gauge .fill')?.className ?? null,
          width: (tr.querySelector('.gauge .fill') as HTMLElement | null)?.style.width ?? null,
        })),
      )
      return new Map(rows.map((r) => [r.cells[0], r]))
    }
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#channels tbody tr')]
      return rows.length === 2 && rows.every((tr) => tr.querySelectorAll('td')[3]?.textContent !== '–')
    })
    const perSecond = (text: string | undefined) => {
      const m = /^([\d,.]+)( k)?$/.exec(text ?? '')
      assert.ok(m, `a rate: ${JSON.stringify(text)}`)
      return Number(m[1]!.replaceAll(',', '')) * (m[2] ? 1e3 : 1)
    }
    const channels = await channelCells()
    assert.deepEqual([...channels.keys()].sort(), ['fanout:rooms', 'fanout:slow'])
    // Columns: name, used / capacity, queued, in / s, out / s, refused / s, refused, waiting, instance.
    const rooms = channels.get('fanout:rooms')!
    assert.match(rooms.cells[1]!, / \/ 64 KiB$/)
    assert.equal(rooms.fill, 'fill')
    assert.ok(perSecond(rooms.cells[3]) > 0, 'rooms: frames in / s')
    assert.ok(perSecond(rooms.cells[4]) > 0, 'rooms: frames out / s')
    assert.deepEqual(rooms.cells.slice(5, 8), ['0', '0', '0'])
    // The slow consumer's ring is full at every poll: a full bar, refusals counted and per second.
    const slow = channels.get('fanout:slow')!
    assert.equal(slow.cells[1], '4 KiB / 4 KiB')
    assert.equal(slow.fill, 'fill full')
    assert.equal(slow.width, '100%')
    assert.equal(slow.cells[2], '32')
    assert.ok(perSecond(slow.cells[5]) > 0, 'slow: refused / s')
    assert.ok(perSecond(slow.cells[6]) > 0, 'slow: refused in all')
    assert.equal(slow.cells[7], '0')

    // Sorting by key and by header button.
    await page.keyboard.press('p')
    assert.equal(await page.getAttribute('button[data-sort="peak"]', 'aria-pressed'), 'true')
    await page.click('button[data-sort="length"]')
    assert.equal(await page.getAttribute('button[data-sort="length"]', 'aria-pressed'), 'true')

    // The footer gives the terminal view of this very sidecar.
    assert.equal(
      await page.locator('#top-command').innerText(),
      `beamline-sidecar top --url ${rig.sidecar.url}`,
    )

    // An observed queue has no age and counts nothing in or out: '–', not '0 ms' and 0 / s.
    const cells = (name: string) =>
      page.$$eval(
        '#mailboxes tbody tr',
        (trs, n) =>
          trs
            .map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''))
            .find((row) => row[0] === n),
        name,
      )
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#mailboxes td.name')].some((td) => td.textContent === 'ws:outbound'),
    )
    const observed = (await cells('ws:outbound'))!
    assert.deepEqual(observed.slice(1, 7), ['sockets', '173', '173', '–', '–', '–'])
    assert.match((await cells('session:alice'))![4]!, /^\d+(\.\d)? (ms|s)$/)

    // Length bars: none for an empty mailbox, and never a sliver: the one-message mailbox next to
    // session:alice's hundreds still gets a visible bar.
    const bars = await page.$$eval('#mailboxes tbody tr', (trs) =>
      trs.map((tr) => {
        const tds = tr.querySelectorAll('td')
        const bar = tds[2]?.querySelector<HTMLElement>('.lenbar')
        return {
          name: tds[0]?.textContent,
          length: tds[2]?.firstChild?.textContent,
          width: bar ? bar.getBoundingClientRect().width : null,
        }
      }),
    )
    for (const b of bars) {
      if (b.length === '0') assert.equal(b.width, null, `${b.name}: no bar when empty`)
      else assert.ok(b.width !== null && b.width >= 6, `${b.name}: a visible bar, ${b.width}px`)
    }
    assert.equal(bars.find((b) => b.name === 'session:idle')?.length, '1')

    // Axis ticks: as many decimals as their step needs (0.25 steps printed as 0.3 / 0.8 looked
    // uneven), so the printed ticks are evenly spaced; shed / s at least 0 to 10, in whole requests.
    const ticks = await page.$$eval('.chart', (els) =>
      Object.fromEntries(els.map((e) => [e.id, (e as HTMLElement).dataset['yTicks'] ?? ''])),
    )
    const tickValues = (id: string, text: string) =>
      text.split(' | ').map((label) => {
        const m = /^(-?[\d,.]+)( k| M| G)?$/.exec(label)
        assert.ok(m, `${id}: tick ${JSON.stringify(label)} in ${text}`)
        return Number(m[1]!.replaceAll(',', '')) * ({ ' k': 1e3, ' M': 1e6, ' G': 1e9 }[m[2] ?? ''] ?? 1)
      })
    for (const [id, text] of Object.entries(ticks)) {
      const values = tickValues(id, text)
      assert.ok(values.length >= 2, `${id}: ${text}`)
      const steps = values.slice(1).map((v, i) => v - values[i]!)
      for (const step of steps)
        assert.ok(
          Math.abs(step - steps[0]!) <= 1e-9 * Math.abs(steps[0]!) + 1e-9,
          `${id}: evenly spaced ${text}`,
        )
    }
    const shed = tickValues('chart-pressure', ticks['chart-pressure']!)
    assert.ok(shed.every(Number.isInteger) && shed.at(-1)! >= 8, `shed / s ticks: ${ticks['chart-pressure']}`)

    // Let pressure build up a little so the picture shows it, then keep the screenshot.
    await page.waitForFunction(() => document.querySelector('#t-level')?.textContent !== 'ok', undefined, {
      timeout: 15_000,
    })
    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true })
    assert.deepEqual(problems, [])
    await page.close()
  })

  it('works with no targets, and says so when the sidecar goes away', async (t) => {
    if (!requireTool(t, CHROMIUM, 'chromium') || !browser) return
    // An empty discovery directory: something to poll, nothing found yet.
    const none = mkdtempSync(join(tmpdir(), 'beamline-status-empty-'))
    t.after(() => rmSync(none, { recursive: true, force: true }))
    empty = await startSidecarProcess(['--interval-ms', '500', '--discover-dir', none])
    const { page, problems } = await open(browser, `${empty.url}/`)
    await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') === 'live')
    await page.waitForFunction(
      () => Number(document.querySelector<HTMLElement>('.uplot')?.dataset['points']) >= 2,
    )
    assert.match(await page.locator('#targets tbody').innerText(), /No targets/)
    assert.match(await page.locator('#mailboxes tbody').innerText(), /No mailboxes/)
    assert.equal(await page.locator('#channels tbody').innerText(), 'No channels reported.')
    assert.equal(await page.locator('#t-targets').innerText(), '0 of 0')
    assert.deepEqual(problems, [])

    empty.child.kill('SIGTERM')
    await page.waitForFunction(
      () => document.querySelector('#conn')?.getAttribute('data-state') === 'error',
      undefined,
      {
        timeout: 15_000,
      },
    )
    assert.match(await page.locator('#conn').innerText(), /unreachable/)
    await page.close()
  })
})
