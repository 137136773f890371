/** The per-second line of the demo: scrolling lines, plus a progress bar kept at the bottom on a TTY. */
import { ms, type Row } from './summary.js'

const tty = process.stdout.isTTY === true
const paint = (code: string, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s)
const LEVEL = [paint('32', 'ok'), paint('33', 'throttle'), paint('31;1', 'shed')]
const pad = (v: number | string, n: number) => String(v).padStart(n)

let barShown = false

function clearBar(): void {
  if (barShown) process.stdout.write('\r\x1b[2K')
  barShown = false
}

/** Writes a normal line (keeps the progress bar below it on a TTY). */
export function say(line: string): void {
  clearBar()
  process.stdout.write(`${line}\n`)
}

export function printRow(row: Row, totalS: number): void {
  const line =
    `${pad(row.t + 1, 3)}s ${row.phase.padEnd(8)} ` +
    `offered ${pad(row.offered, 5)}/s  admitted ${pad(row.admitted, 4)}/s  ` +
    `shed ${row.shed > 0 ? paint('33', pad(row.shed, 5)) : pad(0, 5)}/s  ` +
    `failed ${row.failed > 0 ? paint('31', pad(row.failed, 4)) : pad(0, 4)}/s  ` +
    `p99 ${pad(ms(row.p99), 7)}  queued ${pad(row.queued, 6)}  ` +
    `longest ${pad(row.longest, 5)} ${row.longestName.padEnd(12)}  ` +
    `pressure ${LEVEL[row.level] ?? row.level}  db ${row.dbInUse}/${row.dbMax}` +
    (row.dbWaiting > 0 ? ` +${row.dbWaiting} waiting` : '')
  if (!tty) {
    process.stdout.write(`[${pad(row.t + 1, 3)}/${totalS}s] ${line}\n`)
    return
  }
  say(line)
  const width = 30
  const done = Math.round(((row.t + 1) / totalS) * width)
  process.stdout.write(
    `${paint('36', '█'.repeat(done))}${'░'.repeat(width - done)} ${row.t + 1}/${totalS} s · ${row.phase} · Ctrl-C stops`,
  )
  barShown = true
}

export function endLive(): void {
  clearBar()
}
