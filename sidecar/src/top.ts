import { parseArgs } from 'node:util'
import { choiceOption, integerOption } from '@beamline/core'
import { located } from './config.js'
import { ConfigError } from './errors.js'
import {
  type ApiHistory,
  type ApiSnapshot,
  type ApiTarget,
  channelRows,
  formatAge,
  formatBytes,
  formatCount,
  formatRate,
  levelName,
  type MailboxRow,
  mailboxRows,
  pressureReasons,
  rate1s,
  SORT_BY_KEY,
  SORT_KEYS,
  type SortKey,
  sortRows,
} from './top-model.js'

export const TOP_HELP = `Usage: beamline-sidecar top [--url URL] [--sort KEY] [--interval-ms N]

The longest mailboxes of every target of a running sidecar, refreshed in place
like observer_cli: targets up and down with their pressure level, totals, the
semaphores and channels, then one line per mailbox (each target reports its 20
longest).

Options:
  --url URL          The sidecar to read (its /api/v1/snapshot and /api/v1/history).
                     Default http://127.0.0.1:9464.
  --sort KEY         length, peak, age (oldest waiting message) or rate (messages
                     enqueued per second). Default length.
  --interval-ms N    Refresh period in milliseconds, 100 to 60000. Default 1000.
  --help             Show this help.

Keys: l, p, a, r sort by length, peak, age, rate; q (or Ctrl-C) quits and restores
the terminal. The view follows the terminal's size. When standard output is not a
terminal, one plain frame is printed and the command exits (1 if the sidecar did
not answer). NO_COLOR disables colours.
`

export interface TopOptions {
  readonly url: string
  readonly sort: SortKey
  readonly intervalMs: number
}

/** Parses `top`'s arguments; throws `ConfigError` naming the culprit. */
export function parseTopArgs(
  argv: readonly string[],
): { kind: 'help' } | { kind: 'run'; options: TopOptions } {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string', default: 'http://127.0.0.1:9464' },
        sort: { type: 'string', default: 'length' },
        'interval-ms': { type: 'string', default: '1000' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    throw new ConfigError('command line', `${(err as Error).message} (see top --help)`)
  }
  if (values['help']) return { kind: 'help' }
  const url = String(values['url']).replace(/\/+$/, '')
  let protocol = ''
  try {
    protocol = new URL(url).protocol
  } catch {}
  if (protocol !== 'http:' && protocol !== 'https:')
    throw new ConfigError('--url', `must be the sidecar's http:// URL, got ${JSON.stringify(url)}`)
  const sort = located('--sort', () => choiceOption('sort', String(values['sort']), SORT_KEYS))
  const raw = String(values['interval-ms'])
  const intervalMs = located('--interval-ms', () =>
    integerOption('interval-ms', /^\d+$/.test(raw) ? Number(raw) : raw, 100, 60_000),
  )
  return { kind: 'run', options: { url, sort, intervalMs } }
}

/** What one frame shows. */
export interface TopState {
  readonly options: TopOptions
  sort: SortKey
  api: ApiSnapshot | undefined
  history: ApiHistory | undefined
  rows: MailboxRow[]
  /** Why the last poll failed; the previous data stays on screen. */
  error: string | undefined
}

// Control characters (C0, DEL, C1) and bidirectional overrides from the network could move the
// cursor, retitle the terminal or reorder the line: each is shown as '?'.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g

/** A string from the network, made safe to print. */
export function clean(s: string): string {
  return s.replace(UNSAFE, '?')
}

type Paint = (text: string, sgr: string) => string

/** Cuts (with '…') or pads `text` to exactly `width` characters. */
function fit(text: string, width: number, right = false): string {
  const chars = [...text]
  if (chars.length > width) return width <= 0 ? '' : `${chars.slice(0, width - 1).join('')}…`
  const pad = ' '.repeat(width - chars.length)
  return right ? pad + text : text + pad
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: our own colour codes
const SGR_AT = /\x1b\[[0-9;]*m/y

/** Cuts a line with colour codes to `width` visible characters (the codes cost nothing). */
function clip(line: string, width: number): string {
  let out = ''
  let visible = 0
  for (let i = 0; i < line.length; ) {
    SGR_AT.lastIndex = i
    const sgr = SGR_AT.exec(line)
    if (sgr) {
      out += sgr[0]
      i += sgr[0].length
      continue
    }
    const ch = String.fromCodePoint(line.codePointAt(i)!)
    if (visible === width) return out.includes('\x1b') ? `${out}\x1b[0m` : out
    out += ch
    visible++
    i += ch.length
  }
  return out
}

const LEVEL_SGR = ['32', '33;1', '31;1']

interface Column {
  readonly title: string
  readonly width: number
  readonly right: boolean
  readonly cell: (r: MailboxRow) => string
  /** Columns are dropped from the highest rank down when the terminal is narrow. */
  readonly rank: number
}

function columns(sort: SortKey, manyTargets: boolean): Column[] {
  const mark = (title: string, key: SortKey) => (sort === key ? `${title}▼` : title)
  return [
    { title: 'NAME', width: 0, right: false, cell: (r) => clean(r.name), rank: 0 },
    { title: 'GROUP', width: 14, right: false, cell: (r) => clean(r.group), rank: 4 },
    { title: mark('LENGTH', 'length'), width: 9, right: true, cell: (r) => formatCount(r.length), rank: 0 },
    { title: mark('PEAK', 'peak'), width: 8, right: true, cell: (r) => formatCount(r.peak), rank: 2 },
    { title: mark('OLDEST', 'age'), width: 9, right: true, cell: (r) => formatAge(r.oldestAgeMs), rank: 1 },
    { title: mark('IN/S', 'rate'), width: 8, right: true, cell: (r) => formatRate(r.inRate), rank: 1 },
    { title: 'OUT/S', width: 8, right: true, cell: (r) => formatRate(r.outRate), rank: 3 },
    { title: 'LOST', width: 7, right: true, cell: (r) => formatCount(r.lost), rank: 5 },
    ...(manyTargets
      ? [{ title: 'INSTANCE', width: 22, right: false, cell: (r: MailboxRow) => clean(r.instance), rank: 6 }]
      : []),
  ]
}

function targetLine(t: ApiTarget, width: number, paint: Paint): string {
  if (!t.up || !t.snapshot) {
    return ` ${paint(fit(`down  ${clean(t.target)}${t.reason ? `: ${clean(t.reason)}` : ''}`, width - 1), '31')}`
  }
  const level = t.snapshot.pressure?.level ?? 0
  const id = clean(`${t.snapshot.service} ${t.snapshot.instance}`)
  const name = fit(id, Math.min([...id].length, width - 18))
  const reasons = fit(clean(pressureReasons(t)), Math.max(0, width - name.length - 18))
  return ` ${paint('up', '32')}    ${name}  ${paint(fit(levelName(level), 9), LEVEL_SGR[level] ?? '31;1')}${reasons}`
}

function semaphoreText(api: ApiSnapshot): string {
  const parts: string[] = []
  for (const t of api.targets) {
    if (!t.up) continue
    for (const s of t.snapshot?.semaphores ?? []) {
      const rejected = rate1s(t, 'semaphore', s.name, 'rejected')
      parts.push(
        `${clean(s.name)} ${s.inUse}/${s.max} waiting ${formatCount(s.waiting)} rejected ${formatRate(rejected)}/s`,
      )
    }
  }
  return parts.length === 0 ? 'semaphores: none' : `semaphores: ${parts.join('  ·  ')}`
}

function channelText(api: ApiSnapshot): string {
  // Most telling first, as the line's end is what a narrow terminal cuts: refusing, then fullest.
  const rows = channelRows(api).sort((a, b) => (b.refusedRate ?? 0) - (a.refusedRate ?? 0) || b.fill - a.fill)
  const parts = rows.map(
    (c) =>
      `${clean(c.name)} ${formatBytes(c.usedBytes)}/${formatBytes(c.capacityBytes)}` +
      ` in ${formatRate(c.sentRate)}/s out ${formatRate(c.receivedRate)}/s refused ${formatRate(c.refusedRate)}/s`,
  )
  return parts.length === 0 ? 'channels: none' : `channels: ${parts.join('  ·  ')}`
}

/**
 * One frame, `height` lines of at most `width` characters (plus colour codes): a title bar, totals,
 * one line per target (as many as fit in a third of the screen), semaphores, channels, then the mailbox table
 * down to the last line, which says how many rows were left out. Why the last poll failed, if it did,
 * is the line under the title.
 * `height` Infinity: every row, no padding (the one frame printed to a pipe).
 */
export function renderTop(state: TopState, width: number, height: number, color: boolean): string[] {
  const paint: Paint = color ? (text, sgr) => `\x1b[${sgr}m${text}\x1b[0m` : (text) => text
  const w = Math.max(1, width)
  const { api, history } = state
  const lines: string[] = []
  const time = api ? new Date(api.time).toTimeString().slice(0, 8) : '--:--:--'
  const keys = 'l/p/a/r sort  q quit'
  const title = ` beamline top  ${clean(state.options.url)}  every ${state.options.intervalMs / 1000} s  sort: ${state.sort}`
  lines.push(paint(fit(`${fit(title, w - keys.length - 14)}  ${keys}  ${time} `, w), '7'))
  // Right under the title, where the eye is: what is wrong, and with data, how old what is shown is.
  if (state.error) {
    const what = api
      ? `sidecar unreachable: ${clean(state.error)}; retrying, showing its answer of ${time}`
      : `sidecar unreachable at ${clean(state.options.url)}: ${clean(state.error)}; retrying. Start it, or pass its --url (the demo prints it)`
    lines.push(paint(fit(` ${what}`, w), '31;1'))
  }
  const last = (col: keyof ApiHistory) => {
    const values = history?.[col]
    return Array.isArray(values) && values.length > 0 ? (values.at(-1) as number) : undefined
  }
  if (api && history) {
    const level = last('level') ?? 0
    const down = last('down') ?? 0
    // Most telling first: on a narrow terminal the end of the line is what gets cut.
    lines.push(
      ` targets ${paint(`${last('up') ?? 0} up`, '32')} ${paint(`${down} down`, down > 0 ? '31;1' : '2')}` +
        `   pressure ${paint(levelName(level), LEVEL_SGR[level] ?? '31;1')}` +
        `   queued ${formatCount(last('queued') ?? 0)} (longest ${formatCount(last('longest') ?? 0)})` +
        `   in ${formatCount(last('enqueued') ?? 0)}/s  out ${formatCount(last('dequeued') ?? 0)}/s` +
        `  dropped ${formatCount(last('dropped') ?? 0)}/s  shed ${formatCount(last('shed') ?? 0)}/s`,
    )
    const room = Math.max(1, Math.floor((height - 7) / 3))
    const shown = api.targets.length > room ? room - 1 : api.targets.length
    for (const t of api.targets.slice(0, shown)) lines.push(targetLine(t, w, paint))
    if (shown < api.targets.length) lines.push(fit(` … ${api.targets.length - shown} more targets`, w))
    if (api.targets.length === 0)
      lines.push(fit(' no targets: start the sidecar with --target or --discover-dir', w))
    lines.push(fit(` ${semaphoreText(api)}`, w))
    lines.push(fit(` ${channelText(api)}`, w))
  } else if (!state.error) {
    lines.push(fit(' waiting for the first answer…', w))
  }
  lines.push('')

  const many = new Set(api?.targets.map((t) => t.target)).size > 1
  let cols = columns(state.sort, many)
  const fixed = () => cols.reduce((sum, c) => sum + c.width + 1, 1)
  for (let rank = 6; rank > 0 && w - fixed() < 16; rank--) cols = cols.filter((c) => c.rank < rank)
  const nameWidth = Math.max(8, w - fixed())
  const row = (cells: (c: Column) => string) =>
    ` ${cols.map((c) => fit(cells(c), c.width || nameWidth, c.right)).join(' ')}`
  lines.push(
    paint(
      fit(
        row((c) => c.title),
        w,
      ),
      '7',
    ),
  )
  const sorted = sortRows(state.rows, state.sort)
  const space = Math.max(0, height - lines.length - 1)
  for (const r of sorted.slice(0, space))
    lines.push(
      fit(
        row((c) => c.cell(r)),
        w,
      ),
    )
  let footer = ''
  if (sorted.length > space)
    footer = fit(` … ${sorted.length - space} more mailboxes (taller terminal shows more)`, w)
  else if (api && sorted.length === 0) footer = fit(' no mailboxes reported', w)
  if (Number.isFinite(height)) while (lines.length < height - 1) lines.push('')
  if (footer !== '' || Number.isFinite(height)) lines.push(footer)
  return lines.slice(0, Math.max(1, height)).map((l) => clip(l, w))
}

const MAX_BODY = 64 * 1024 * 1024

/** GETs JSON from the sidecar within `timeoutMs`, refusing bodies over 64 MiB. */
async function getJson<T>(url: string, timeoutMs: number): Promise<T> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(timeoutMs),
    headers: { accept: 'application/json' },
  })
  if (!res.ok) throw new Error(`${url} answered ${res.status}`)
  if (Number(res.headers.get('content-length') ?? 0) > MAX_BODY) throw new Error(`${url}: body over 64 MiB`)
  return JSON.parse(await res.text()) as T
}

export interface TopIo {
  readonly stdin: NodeJS.ReadStream
  readonly stdout: NodeJS.WriteStream
  readonly env: NodeJS.ProcessEnv
}

/** Runs `beamline-sidecar top`; resolves with the exit code once the user quits. */
export async function runTop(
  argv: readonly string[],
  io: TopIo = { stdin: process.stdin, stdout: process.stdout, env: process.env },
): Promise<number> {
  const request = parseTopArgs(argv)
  if (request.kind === 'help') {
    io.stdout.write(TOP_HELP)
    return 0
  }
  const { options } = request
  const state: TopState = {
    options,
    sort: options.sort,
    api: undefined,
    history: undefined,
    rows: [],
    error: undefined,
  }
  const timeoutMs = Math.min(5000, Math.max(500, options.intervalMs))
  const poll = async () => {
    try {
      const [api, history] = await Promise.all([
        getJson<ApiSnapshot>(`${options.url}/api/v1/snapshot`, timeoutMs),
        getJson<ApiHistory>(`${options.url}/api/v1/history`, timeoutMs),
      ])
      state.api = api
      state.history = history
      state.rows = mailboxRows(api)
      state.error = undefined
    } catch (err) {
      // fetch says "fetch failed" and keeps the reason (ECONNREFUSED, …) in its cause.
      const e = err as Error & { cause?: { code?: string; message?: string } }
      state.error =
        e.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : (e.cause?.code ?? e.cause?.message ?? e.message)
    }
  }

  const out = io.stdout
  if (!out.isTTY) {
    await poll()
    out.write(`${renderTop(state, 120, Number.POSITIVE_INFINITY, false).join('\n')}\n`)
    return state.error ? 1 : 0
  }

  const color = !io.env['NO_COLOR']
  const draw = () => {
    const lines = renderTop(state, out.columns || 80, out.rows || 24, color)
    // Home, each line cleared to its end, then the rest of the screen: no flicker, no stale text.
    out.write(`\x1b[H${lines.join('\x1b[K\r\n')}\x1b[K\x1b[J`)
  }
  // Alternate screen, cursor hidden, line wrap off (a line can never push the screen up).
  out.write('\x1b[?1049h\x1b[?25l\x1b[?7l')
  const stdin = io.stdin
  const raw = stdin.isTTY === true
  if (raw) stdin.setRawMode(true)
  let restored = false
  const restore = () => {
    if (restored) return
    restored = true
    if (raw) stdin.setRawMode(false)
    out.write('\x1b[?7h\x1b[?25h\x1b[?1049l')
  }
  // Whatever ends the process, the user gets their terminal back.
  process.once('exit', restore)

  return new Promise<number>((resolve) => {
    let timer: NodeJS.Timeout | undefined
    const quit = () => {
      clearTimeout(timer)
      stdin.off('data', onKey)
      stdin.pause()
      out.off('resize', draw)
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, quit)
      restore()
      resolve(0)
    }
    const onKey = (data: Buffer) => {
      for (const ch of data.toString('latin1')) {
        if (ch === 'q' || ch === 'Q' || ch === '\x03') return quit()
        const sort = SORT_BY_KEY[ch.toLowerCase()]
        if (sort) {
          state.sort = sort
          draw()
        }
      }
    }
    stdin.on('data', onKey)
    stdin.resume()
    out.on('resize', draw)
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, quit)
    const loop = async () => {
      await poll()
      if (restored) return
      draw()
      timer = setTimeout(() => void loop(), options.intervalMs)
    }
    draw()
    void loop()
  })
}
