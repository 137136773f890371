// The sidecar's live status page: polls /api/v1/history (charts, totals) and /api/v1/snapshot (tables)
// once per poll interval and redraws. Every string from the network reaches the DOM as a Text node
// (append / textContent), never as markup; the page's CSP allows scripts from the sidecar only.
import {
  CHANNEL_FULL,
  channelRows,
  formatAge,
  formatBytes,
  formatCount,
  formatRate,
  formatTick,
  levelName,
  mailboxRows,
  pressureReasons,
  rate1s,
  SORT_BY_KEY,
  sortRows,
} from '/top-model.js'
import uPlot from '/vendor/uPlot.esm.js'

const TIMEOUT_MS = 5000
const MAX_MAILBOX_ROWS = 50

/** `h('td', { class: 'num' }, 'text', child)`: an element whose string children become text nodes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (key === 'class') el.className = value
    else el.setAttribute(key, value)
  }
  el.append(...children.filter((c) => c !== null && c !== undefined))
  return el
}

const $ = (id) => document.getElementById(id)
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()

function ago(ms) {
  return ms === null ? 'never' : `${formatAge(Math.max(0, Date.now() - ms))} ago`
}

// ---- charts ----------------------------------------------------------------------------------------

const CHART_HEIGHT = 200

function chart(id, series, extra = {}) {
  const el = $(id)
  const axis = { stroke: css('--muted'), grid: { stroke: css('--grid'), width: 1 }, ticks: { show: false } }
  const opts = {
    width: el.clientWidth || 400,
    height: CHART_HEIGHT,
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
      ...extra.scales,
    },
    axes: [
      axis,
      {
        ...axis,
        size: 56,
        // Also left on the element (data-y-ticks), where a test or a curious reader can see them.
        values: (_u, ticks, _axis, _space, step) => {
          const labels = ticks.map((v) => formatTick(v, step))
          el.dataset.yTicks = labels.join(' | ')
          return labels
        },
      },
      ...(extra.axes ?? []),
    ],
    series: [
      {},
      ...series.map((s) => ({
        width: 2,
        points: { show: false },
        value: (_u, v) => (v === null ? '–' : formatCount(v)),
        ...s,
      })),
    ],
  }
  const u = new uPlot(opts, [[], ...series.map(() => [])], el)
  new ResizeObserver(() => u.setSize({ width: el.clientWidth, height: CHART_HEIGHT })).observe(el)
  return u
}

// #rrggbb plus an alpha byte: canvas fill styles take 8-digit hex everywhere.
const translucent = (color) => `${color}24`

const charts = {
  queued: chart('chart-queued', [
    { label: 'queued', stroke: css('--queued'), fill: translucent(css('--queued')), key: 'queued' },
    { label: 'longest mailbox', stroke: css('--longest'), key: 'longest' },
  ]),
  rates: chart('chart-rates', [
    { label: 'enqueued', stroke: css('--enqueued'), key: 'enqueued' },
    { label: 'dequeued', stroke: css('--dequeued'), key: 'dequeued' },
    { label: 'dropped', stroke: css('--dropped'), fill: translucent(css('--dropped')), key: 'dropped' },
  ]),
  pressure: chart(
    'chart-pressure',
    [
      {
        label: 'level',
        stroke: css('--level'),
        fill: translucent(css('--level')),
        scale: 'level',
        key: 'level',
        paths: uPlot.paths.stepped({ align: 1 }),
        value: (_u, v) => (v === null ? '–' : levelName(v)),
      },
      { label: 'shed / s', stroke: css('--shed'), key: 'shed' },
    ],
    {
      // Shed requests are whole: at least 0–10, so that no shedding shows as a flat line at 0 on
      // a readable axis, not as fractions of a request.
      scales: { y: { range: (_u, _min, max) => [0, Math.max(10, max * 1.1)] }, level: { range: [0, 2.2] } },
      axes: [
        {
          scale: 'level',
          side: 1,
          size: 64,
          stroke: css('--muted'),
          grid: { show: false },
          ticks: { show: false },
          splits: () => [0, 1, 2],
          values: (_u, ticks) => ticks.map(levelName),
        },
      ],
    },
  ),
}

function drawCharts(history) {
  const x = history.time.map((t) => t / 1000)
  for (const u of Object.values(charts)) {
    u.setData([x, ...u.series.slice(1).map((s) => history[s.key])])
    u.root.dataset.points = String(x.length)
  }
}

// ---- tiles -----------------------------------------------------------------------------------------

function setTile(id, text, cls = '') {
  const el = $(id)
  el.textContent = text
  el.className = `${el.className.split(' ')[0]} ${cls}`
}

function drawTiles(history) {
  const last = (col) => history[col].at(-1) ?? 0
  const [up, down, level, shedding] = [last('up'), last('down'), last('level'), last('shedding')]
  setTile('t-targets', `${up} of ${up + down}`)
  setTile(
    't-targets-sub',
    down > 0 ? `${down} down` : up > 0 ? 'all answering' : 'no targets',
    down > 0 ? 'bad' : '',
  )
  setTile('t-level', levelName(level), `level-${level}`)
  setTile(
    't-level-sub',
    shedding > 0 ? `${shedding} target${shedding > 1 ? 's' : ''} shedding` : 'highest of any target',
  )
  setTile('t-queued', formatCount(last('queued')))
  setTile('t-longest', formatCount(last('longest')))
  setTile('t-enqueued', formatCount(last('enqueued')))
  setTile('t-dequeued', formatCount(last('dequeued')))
  setTile('t-dropped', formatCount(last('dropped')), last('dropped') > 0 ? 'bad' : '')
  setTile('t-shed', formatCount(last('shed')), last('shed') > 0 ? 'level-1' : '')
}

// ---- tables ----------------------------------------------------------------------------------------

function fill(tableId, rows, columns, empty) {
  const body = $(tableId).tBodies[0]
  if (rows.length === 0)
    body.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: String(columns) }, empty)))
  else body.replaceChildren(...rows)
}

function drawTargets(api) {
  const rows = api.targets.map((t) => {
    const s = t.snapshot
    const level = s?.pressure?.level ?? 0
    const status = t.up
      ? h('span', { class: 'pill' }, 'up')
      : h('span', { class: 'pill down', title: t.reason ?? '' }, 'down')
    const pressure = t.up
      ? h(
          'td',
          {},
          h('span', { class: `pill level-${level}` }, levelName(level)),
          h('span', { class: 'reason' }, pressureReasons(t)),
        )
      : h('td', { class: 'down-reason' }, t.reason ?? 'down')
    return h(
      'tr',
      {},
      h('td', {}, status),
      h('td', { class: 'nowrap' }, s?.service ?? t.service ?? '–'),
      h('td', { class: 'name nowrap' }, s?.instance ?? t.instance ?? '–'),
      pressure,
      h('td', { class: 'num' }, t.up && s?.mailboxes ? formatCount(s.mailboxes.totals.queued) : '–'),
      h('td', { class: 'num' }, ago(t.lastSuccessTime)),
      h('td', { class: 'num' }, `${(t.pollDurationSeconds * 1000).toFixed(1)} ms`),
      h('td', { class: 'name muted nowrap' }, t.target),
    )
  })
  fill(
    'targets',
    rows,
    8,
    'No targets. Start the sidecar with --target unix:/path.sock or --discover-dir DIR.',
  )
}

let sort = 'length'
let lastRows = []

function drawMailboxes(rows) {
  $('mailboxes').classList.toggle('single', new Set(rows.map((r) => r.target)).size <= 1)
  const sorted = sortRows(rows, sort)
  const shown = sorted.slice(0, MAX_MAILBOX_ROWS)
  const longest = Math.max(1, ...shown.map((r) => r.length))
  fill(
    'mailboxes',
    shown.map((r) => {
      // No bar for an empty mailbox; a short one keeps the stylesheet's minimum width, not a sliver.
      let bar = null
      if (r.length > 0) {
        bar = h('span', { class: 'lenbar' })
        bar.style.width = `${(100 * r.length) / longest}%`
      }
      return h(
        'tr',
        {},
        h('td', { class: 'name' }, r.name),
        h('td', {}, r.group),
        h('td', { class: 'num' }, formatCount(r.length), bar),
        h('td', { class: 'num' }, formatCount(r.peak)),
        h('td', { class: 'num' }, formatAge(r.oldestAgeMs)),
        h('td', { class: 'num' }, formatRate(r.inRate)),
        h('td', { class: 'num' }, formatRate(r.outRate)),
        h('td', { class: `num${r.lost > 0 ? ' down-reason' : ''}` }, formatCount(r.lost)),
        h('td', { class: 'name muted' }, r.instance),
      )
    }),
    9,
    'No mailboxes reported.',
  )
  $('mb-hint').textContent =
    sorted.length > shown.length
      ? `${shown.length} of ${sorted.length}, by ${sort}`
      : `${sorted.length} from each target's longest, by ${sort}`
  for (const b of document.querySelectorAll('button[data-sort]'))
    b.setAttribute('aria-pressed', String(b.dataset.sort === sort))
}

/** A bar filled to `share` (0 to 1) beside `text`: `full` from `fullAt` on. */
function gauge(share, fullAt, text) {
  const bar = h('div', { class: `fill${share >= fullAt ? ' full' : ''}` })
  bar.style.width = `${Math.round(100 * Math.min(1, share))}%`
  return h('div', { class: 'gauge' }, h('div', { class: 'track' }, bar), text)
}

function drawSemaphores(api) {
  const rows = []
  const from = new Set()
  for (const t of api.targets) {
    if (!t.up) continue
    for (const s of t.snapshot?.semaphores ?? []) {
      from.add(t.target)
      const share = s.max > 0 ? s.inUse / s.max : 0
      rows.push(
        h(
          'tr',
          {},
          h('td', { class: 'name' }, s.name),
          h('td', {}, gauge(share, 1, `${formatCount(s.inUse)} / ${formatCount(s.max)}`)),
          h('td', { class: 'num' }, formatCount(s.waiting)),
          h('td', { class: 'num' }, formatRate(rate1s(t, 'semaphore', s.name, 'rejected'))),
          h('td', { class: 'num' }, formatCount(s.rejected)),
          h('td', { class: 'name muted' }, t.snapshot.instance),
        ),
      )
    }
  }
  $('semaphores').classList.toggle('single', from.size <= 1)
  fill('semaphores', rows, 6, 'No semaphores reported.')
}

function drawChannels(api) {
  const channels = channelRows(api)
  const rows = channels.map((c) =>
    h(
      'tr',
      {},
      h('td', { class: 'name' }, c.name),
      h(
        'td',
        {},
        gauge(c.fill, CHANNEL_FULL, `${formatBytes(c.usedBytes)} / ${formatBytes(c.capacityBytes)}`),
      ),
      h('td', { class: 'num' }, formatCount(c.queuedFrames)),
      h('td', { class: 'num' }, formatRate(c.sentRate)),
      h('td', { class: 'num' }, formatRate(c.receivedRate)),
      h('td', { class: 'num' }, formatRate(c.refusedRate)),
      h('td', { class: `num${c.refused > 0 ? ' down-reason' : ''}` }, formatCount(c.refused)),
      h('td', { class: 'num' }, formatCount(c.waitingSenders)),
      h('td', { class: 'name muted' }, c.instance),
    ),
  )
  $('channels').classList.toggle('single', new Set(channels.map((c) => c.target)).size <= 1)
  fill('channels', rows, 9, 'No channels reported.')
}

// ---- polling ---------------------------------------------------------------------------------------

async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store', signal: AbortSignal.timeout(TIMEOUT_MS) })
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
  return res.json()
}

function setConnection(state, text) {
  const el = $('conn')
  el.dataset.state = state
  el.textContent = text
}

async function poll() {
  let intervalMs = 1000
  try {
    const [api, history] = await Promise.all([getJson('/api/v1/snapshot'), getJson('/api/v1/history')])
    intervalMs = api.intervalMs
    lastRows = mailboxRows(api)
    drawCharts(history)
    drawTiles(history)
    drawTargets(api)
    drawMailboxes(lastRows)
    drawSemaphores(api)
    drawChannels(api)
    setConnection('live', `live · ${new Date(api.time).toLocaleTimeString()} · every ${intervalMs / 1000} s`)
  } catch (err) {
    setConnection('error', `sidecar unreachable (${err.message}); retrying`)
  }
  setTimeout(poll, intervalMs)
}

// The terminal view of this very sidecar, as it is reached from here.
$('top-command').textContent = `beamline-sidecar top --url ${location.origin}`

function setSort(key) {
  sort = key
  drawMailboxes(lastRows)
}

for (const b of document.querySelectorAll('button[data-sort]'))
  b.addEventListener('click', () => setSort(b.dataset.sort))
document.addEventListener('keydown', (e) => {
  const key = SORT_BY_KEY[e.key]
  if (key && !e.ctrlKey && !e.metaKey && !e.altKey) setSort(key)
})

poll()
