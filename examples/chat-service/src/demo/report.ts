/**
 * The self-contained HTML report: uPlot (JS and CSS) and the data are inlined, so the file opens
 * from disk with no network. One run, or two (`--compare`: with and without protection) side by side,
 * each chart of one run next to the same chart of the other, on the same y-scale.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { FanoutStats } from '../fanout-stats.js'
import { CLIENT_TIMEOUT_MS, type Phase } from './scenario.js'
import { fanoutExact, fanoutOutcome, ms, type PhaseSummary, RECOVERY, type Row } from './summary.js'

/** One scenario's measurements. */
export interface ReportRun {
  protect: boolean
  rows: Row[]
  summaries: PhaseSummary[]
  /** The service's fan-out counters once the load was over; absent when the run was cut short. */
  fanout?: FanoutStats
}

export interface ReportData {
  startedAt: string
  durationS: number
  capacityRps: number
  dbQueryMs: number
  machine: string
  phases: Phase[]
  /** In the order they ran: one, or with then without protection. */
  runs: ReportRun[]
  interrupted: boolean
}

const modeOf = (run: ReportRun) => (run.protect ? 'with beamline' : 'without protection')

/** The charts, in order: id, title; `wide` spans the row in a report of one run. */
const CHARTS = [
  { id: 'rate', title: 'Requests per second', wide: true },
  { id: 'lat', title: 'Latency of admitted requests (ms, log scale)', wide: false },
  { id: 'queue', title: 'Messages queued (all mailboxes, lanes, outbound queues)', wide: false },
  { id: 'pressure', title: 'Pressure level (0 ok · 1 throttle · 2 shed) and score', wide: false },
  { id: 'db', title: 'Database pool semaphore', wide: false },
  { id: 'limit', title: 'Adaptive concurrency limit at the door, and towards APNs', wide: false },
] as const

const require = createRequire(import.meta.url)
const asset = (file: string) => readFileSync(require.resolve(`uplot/dist/${file}`), 'utf8')
const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
const rps = (v: number) => Math.round(v).toLocaleString('en-US')

function phaseTable(run: ReportRun): string {
  return run.summaries
    .map(
      (s) => `<tr class="ph-${s.name}">
  <td><span class="dot"></span>${esc(s.name)}<div class="what">${esc(s.what)}, ${s.seconds} s</div></td>
  <td>${rps(s.offeredRps)}</td><td>${rps(s.admittedRps)}</td><td>${rps(s.shedRps)}</td><td>${rps(s.failedRps)}</td>
  <td>${ms(s.p50)}</td><td>${ms(s.p99)}</td><td>${s.maxQueued.toLocaleString('en-US')}</td>
  <td>${['ok', 'throttle', 'shed'][s.maxLevel]}</td>
  <td class="outcome">${esc(s.outcome)}</td></tr>`,
    )
    .join('\n')
}

export function renderReport(data: ReportData): string {
  const compare = data.runs.length > 1
  const unfinished = data.runs.reduce((a, r) => a + r.summaries.reduce((b, s) => b + s.unfinished, 0), 0)
  const mode = data.runs.map(modeOf).join(' vs ')
  const badges = data.runs
    .map((r) => `<span class="badge ${r.protect ? 'on' : 'off'}">${esc(modeOf(r))}</span>`)
    .join(compare ? ' <span class="vs">vs</span> ' : '')
  const tables = data.runs
    .map(
      (run) => `${compare ? `<h3 class="run">${esc(modeOf(run))}</h3>\n` : ''}<table>
<thead><tr><th>phase</th><th>offered /s</th><th>admitted /s</th><th>shed /s</th><th>failed /s</th><th>p50</th><th>p99</th><th>max queued</th><th>pressure</th><th class="outcome">outcome</th></tr></thead>
<tbody>
${phaseTable(run)}
</tbody></table>${run.fanout ? `\n<p class="fanout ${fanoutExact(run.fanout) ? 'exact' : 'inexact'}"><b>Room broadcasts:</b> ${esc(fanoutOutcome(run.fanout))}</p>` : ''}`,
    )
    .join('\n')
  // Side by side: each chart of the first run, then the same chart of the second, in one grid row.
  const charts = CHARTS.flatMap((c) =>
    data.runs.map(
      (run, i) =>
        `<div class="chart${!compare && c.wide ? ' wide' : ''}"><h3>${esc(c.title)}${compare ? ` — ${esc(modeOf(run))}` : ''}</h3><div id="c-${c.id}-${i}"></div></div>`,
    ),
  ).join('\n')
  // JSON inside <script>: `<` escaped so that no string can close the element.
  const json = JSON.stringify({
    phases: data.phases,
    runs: data.runs.map((r) => ({ protect: r.protect, rows: r.rows, fanout: r.fanout })),
  }).replace(/</g, '\\u003c')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>beamline demo — ${esc(mode)} — ${esc(data.startedAt)}</title>
<style>${asset('uPlot.min.css')}</style>
<style>
:root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#fff; --card:#f8f9fb;
  --warm-up:#eef4ff; --normal:#f0f9f4; --burst:#fff1f0; --slowdown:#fff8e6; --recovery:#f3f0ff; }
* { box-sizing: border-box }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg) }
main { max-width: 1240px; margin: 0 auto; padding: 28px 24px 40px }
h1 { font-size: 22px; margin: 0 0 4px }
h2 { font-size: 15px; margin: 26px 0 8px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; font-size: 13px; font-weight: 600; vertical-align: 3px; margin-left: 8px }
.badge.on { background: #dcfae6; color: #067647 } .badge.off { background: #fee4e2; color: #b42318 }
.meta { color: var(--muted) }
table { width: 100%; border-collapse: collapse; font-size: 13px }
th, td { text-align: right; padding: 7px 8px; border-bottom: 1px solid var(--line); vertical-align: top; white-space: nowrap }
th { color: var(--muted); font-weight: 600 }
th:first-child, td:first-child, td.outcome, th.outcome { text-align: left }
td.outcome { white-space: normal; min-width: 380px; color: #344054 }
.what { color: var(--muted); font-size: 12px }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 3px; margin-right: 6px; border: 1px solid #0002 }
${['warm-up', 'normal', 'burst', 'slowdown', 'recovery'].map((p) => `.ph-${p} .dot { background: var(--${p}) }`).join('\n')}
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 14px }
.chart { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 6px 2px }
.chart h3 { margin: 0 8px 4px; font-size: 13px }
.chart.wide { grid-column: 1 / -1 }
.note { color: var(--muted); font-size: 12px; margin-top: 8px }
h3.run { font-size: 14px; margin: 14px 0 4px }
.vs { color: var(--muted); font-size: 14px; vertical-align: 3px; margin-left: 8px }
.fanout { font-size: 13px; margin: 8px 0 0; padding: 6px 10px; border-radius: 6px }
.fanout.exact { background: #ecfdf3 } .fanout.inexact { background: #fef3f2 }
</style></head>
<body><main>
<h1>beamline demo: an overload incident, replayed ${badges}</h1>
<div class="meta">${esc(data.startedAt)} · ${data.durationS} s · capacity ≈ ${data.capacityRps} messages/s (8 db connections × 2 queries of ${data.dbQueryMs} ms; twice that when the protected service skips the optional query under pressure) · ${esc(data.machine)}${data.interrupted ? ' · <b>interrupted</b>' : ''}</div>
<h2>Phases</h2>
${tables}
<div class="note">Requests count in the phase they were sent in. admitted = 2xx; shed = refused by the service with 503; failed = other errors and client timeouts (${(CLIENT_TIMEOUT_MS / 1000).toFixed(0)} s)${unfinished > 0 ? `, including ${unfinished} requests still unanswered when the run ended` : ''}. Latency is measured from the scheduled send time of an open-loop client, so waiting in the client counts. Recovery: ${esc(RECOVERY)}.${compare ? ' Each pair of charts shares its y-scale.' : ''}</div>
<h2>Timeline</h2>
<div class="charts">
${charts}
</div>
</main>
<script id="demo-data" type="application/json">${json}</script>
<script>${asset('uPlot.iife.min.js')}</script>
<script>
(() => {
  const data = JSON.parse(document.getElementById('demo-data').textContent)
  const css = getComputedStyle(document.documentElement)
  // Phase bands behind every chart, labelled once at the top.
  const bands = []
  let from = 0
  for (const p of data.phases) { bands.push({ name: p.name, from, to: from + p.seconds }); from += p.seconds }
  const phaseBands = {
    hooks: {
      drawClear: [(u) => {
        const { ctx, bbox } = u
        ctx.save()
        ctx.font = (10 * devicePixelRatio) + 'px system-ui, sans-serif'
        ctx.textBaseline = 'top'
        for (const b of bands) {
          const x0 = u.valToPos(b.from, 'x', true), x1 = u.valToPos(b.to, 'x', true)
          ctx.fillStyle = css.getPropertyValue('--' + b.name).trim() || '#f5f5f5'
          ctx.fillRect(x0, bbox.top, x1 - x0, bbox.height)
          ctx.fillStyle = '#98a2b3'
          ctx.fillText(b.name, x0 + 4 * devicePixelRatio, bbox.top + 3 * devicePixelRatio)
        }
        ctx.restore()
      }],
    },
  }
  const charts = []
  // The highest value of \`keys\` in every run: one y-scale for the runs compared.
  const top = (keys) => Math.max(1, ...data.runs.flatMap((run) => run.rows.flatMap((r) => keys.map((k) => r[k] ?? 0))))
  const lowest = (keys) => Math.min(top(keys), ...data.runs.flatMap((run) => run.rows.flatMap((r) => keys.map((k) => r[k]).filter((v) => v > 0))))
  const shared = {
    rate: [0, top(['offered', 'admitted', 'shed', 'failed']) * 1.05],
    // Whole decades, so that the log scale's ticks are 10, 100, 1 000 ms.
    lat: [10 ** Math.floor(Math.log10(Math.max(1, lowest(['p50', 'p99'])))), 10 ** Math.ceil(Math.log10(top(['p50', 'p99'])))],
    queue: [0, top(['queued', 'longest']) * 1.05],
    pressure: [0, 2.2],
    db: [0, top(['dbInUse', 'dbWaiting', 'dbMax']) * 1.05],
    limit: [0, top(['limit', 'limitInFlight', 'limitQueued', 'apnsLimit']) * 1.05],
  }
  const stepped = uPlot.paths.stepped({ align: 1 })
  data.runs.forEach((run, i) => {
    const rows = run.rows
    const t = rows.map((r) => r.t)
    const col = (k) => rows.map((r) => r[k])
    const make = (id, series, opts = {}) => {
      const el = document.getElementById('c-' + id + '-' + i)
      const wide = el.parentElement.classList.contains('wide')
      const size = () => ({ width: el.parentElement.clientWidth - 24, height: wide ? 250 : 210 })
      const u = new uPlot({
        ...size(),
        plugins: [phaseBands],
        // The y-range drawn, on the element: what the runs compared share, for a reader and the tests.
        hooks: { draw: [(u) => { el.dataset.yRange = u.scales.y.min + ' ' + u.scales.y.max }] },
        scales: { x: { time: false }, y: { range: shared[id], ...(opts.y_scale || {}) } },
        axes: [{ label: 'seconds', size: 34, labelSize: 16 }, { size: 62, ...(opts.y || {}) }],
        legend: { live: false },
        cursor: { points: { size: 6 } },
        series: [{ label: 's' }, ...series.map((s) => ({ width: 2, spanGaps: false, points: { show: false }, ...s }))],
      }, [t, ...series.map((s) => s.data)], el)
      charts.push([u, size])
    }
    make('rate', [
      { label: 'offered', stroke: '#475467', dash: [6, 4], data: col('offered') },
      { label: 'admitted (2xx)', stroke: '#12b76a', fill: '#12b76a22', data: col('admitted') },
      { label: 'shed (503)', stroke: '#f79009', data: col('shed') },
      { label: 'failed / timed out', stroke: '#d92d20', data: col('failed') },
    ])
    make('lat', [
      { label: 'p50', stroke: '#2e90fa', data: col('p50') },
      { label: 'p99', stroke: '#7a5af8', data: col('p99') },
    ], { y_scale: { distr: 3 } })
    make('queue', [
      { label: 'queued', stroke: '#0e9384', fill: '#0e938422', data: col('queued') },
      { label: 'longest queue', stroke: '#dd2590', data: col('longest') },
    ])
    make('pressure', [
      { label: 'level', stroke: '#d92d20', fill: '#d92d2018', paths: stepped, data: col('level') },
      { label: 'score', stroke: '#f79009', width: 1, data: col('score') },
    ], { y: { splits: () => [0, 1, 2] } })
    make('db', [
      { label: 'connections in use', stroke: '#2e90fa', fill: '#2e90fa22', paths: stepped, data: col('dbInUse') },
      { label: 'waiting', stroke: '#f04438', data: col('dbWaiting') },
      { label: 'pool size', stroke: '#98a2b3', dash: [4, 4], width: 1, data: col('dbMax') },
    ])
    make('limit', [
      { label: 'in flight', stroke: '#2e90fa', fill: '#2e90fa22', paths: stepped, data: col('limitInFlight') },
      { label: 'limit', stroke: '#7a5af8', data: col('limit') },
      { label: 'waiting', stroke: '#f04438', data: col('limitQueued') },
      { label: 'APNs limit', stroke: '#0e9384', dash: [4, 4], data: col('apnsLimit') },
    ])
  })
  addEventListener('resize', () => { for (const [u, size] of charts) u.setSize(size()) })
})()
</script>
</body></html>
`
}
