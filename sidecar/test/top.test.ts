/**
 * `beamline-sidecar top` against the sidecar's command line polling a real service
 * (fixtures/status-service.ts) and a target that is down: in a detached tmux session of fixed size,
 * as a pipe, and frame by frame.
 *
 * Invariants checked: the view lists the service's mailboxes longest first, the targets up and down,
 * the semaphores and the channels (the refusing one first); sort keys and terminal resizes redraw it; q exits 0 and gives the terminal back
 * (main screen, cursor visible, the shell's prompt and command line intact); no string from the
 * network reaches the terminal raw (the hostile mailbox name neither retitles the pane nor clears it);
 * every frame has exactly the terminal's height and no line is wider than the terminal.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { parseTopArgs, renderTop, type TopState } from '../src/top.js'
import { type ApiHistory, type ApiSnapshot, formatAge, formatTick, mailboxRows } from '../src/top-model.js'
import { CLI, eventually } from './helpers.js'
import { requireTool, type StatusRig, startStatusRig } from './status-helpers.js'

const TMUX = '/usr/bin/tmux'
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for escape sequences is the point
const SGR = /\x1b\[[0-9;]*m/g
// biome-ignore lint/suspicious/noControlCharactersInRegex: idem
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** A port nobody listens on: taken, then freed. */
async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as AddressInfo).port
  await new Promise((resolve) => probe.close(resolve))
  return port
}

describe('beamline-sidecar top', () => {
  let rig: StatusRig
  before(async () => {
    rig = await startStatusRig()
  })
  after(() => rig.close())

  it('runs full screen in tmux: sorts, follows resizes, and restores the terminal on q', async (t) => {
    if (!requireTool(t, TMUX, 'tmux')) return
    // A private tmux server, without the user's configuration.
    const server = `beamline-top-test-${process.pid}`
    const tmux = (...args: string[]) =>
      execFileSync(TMUX, ['-L', server, '-f', '/dev/null', ...args], { encoding: 'utf8' })
    const screen = () => tmux('capture-pane', '-p', '-t', 'top')
    const flag = (name: string) => tmux('display-message', '-p', '-t', 'top', `#{${name}}`).trim()
    const until = (what: string, test: (text: string) => boolean) =>
      eventually(what, async () => {
        const text = screen()
        return test(text) ? text : undefined
      })
    try {
      tmux('new-session', '-d', '-s', 'top', '-x', '120', '-y', '40', 'env', 'PS1=prompt$ ', 'sh')
      const command = `${process.execPath} ${CLI} top --url ${rig.sidecar.url} --interval-ms 500; echo "top exited $?"`
      tmux('send-keys', '-t', 'top', '-l', command)
      tmux('send-keys', '-t', 'top', 'Enter')

      let text = await until(
        'the mailboxes of the service',
        (s) => s.includes('session:alice') && s.includes('push:fcm'),
      )
      assert.equal(flag('alternate_on'), '1')
      assert.match(text, /beamline top/)
      assert.match(text, /targets 1 up 1 down/)
      assert.match(text, /chat-fixture/)
      assert.match(text, /down {2}unix:\S*gone\.sock: ENOENT/)
      assert.match(text, /semaphores: db \d\/8/)
      // Once the sidecar has two polls of it: the refusing channel first, with its rates.
      text = await until('the channels with their rates', (s) =>
        / channels: fanout:slow 4 KiB\/4 KiB in [\d,.]+\/s out [\d,.]+\/s refused [1-9][\d,.]*\/s {2}· {2}fanout:rooms /.test(
          s,
        ),
      )
      const lines = text.split('\n')
      const row = (name: string) => lines.findIndex((l) => l.trimStart().startsWith(name))
      assert.ok(row('session:alice') < row('session:bob'), 'longest first')
      // The name carrying an escape sequence shows with '?' in place of each control character.
      assert.ok(text.includes('evil?]2;pwned??[2J'), text)
      assert.notEqual(flag('pane_title'), 'pwned')

      tmux('send-keys', '-t', 'top', 'p')
      await until('the peak order', (s) => s.includes('sort: peak'))
      tmux('send-keys', '-t', 'top', 'a')
      await until('the age order', (s) => s.includes('sort: age'))

      tmux('resize-window', '-t', 'top', '-x', '72', '-y', '18')
      text = await until(
        'a redraw at 72×18',
        (s) => s.trimEnd().split('\n').length <= 18 && s.includes('session:alice'),
      )
      for (const line of text.split('\n'))
        assert.ok([...line].length <= 72, `fits 72 columns: ${JSON.stringify(line)}`)
      assert.match(text, /LENGTH/)

      tmux('send-keys', '-t', 'top', 'q')
      text = await until('the shell back', (s) => s.includes('top exited 0'))
      assert.equal(flag('alternate_on'), '0')
      assert.equal(flag('cursor_flag'), '1')
      // The shell's screen as it was (the command line, rewrapped to 72 columns) and a new prompt.
      // Compared without whitespace: tmux wraps at a space and drops it, wherever the path puts the wrap.
      const squeezed = text.replace(/\s+/g, '')
      assert.ok(squeezed.includes(`--interval-ms500;echo"topexited$?"`), text)
      // Not anchored at a line start: a long checkout path wraps the command line onto the same row.
      assert.match(text, /top exited 0\nprompt\$ *$/m)
      assert.ok(!text.includes('session:alice'), 'the alternate screen is gone')

      // A sidecar that is not there: the reason (ECONNREFUSED), under the title, not on the last line.
      const port = await freePort()
      tmux(
        'send-keys',
        '-t',
        'top',
        '-l',
        `clear; ${process.execPath} ${CLI} top --url http://127.0.0.1:${port}`,
      )
      tmux('send-keys', '-t', 'top', 'Enter')
      text = await until('the connection error', (s) => s.includes('ECONNREFUSED'))
      assert.match(
        text.split('\n')[1]!,
        new RegExp(
          // 72 columns: the end of the line (what to do) is cut, the reason is not.
          `^ sidecar unreachable at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED; retrying`,
        ),
      )
      assert.doesNotMatch(text, /waiting for the first answer/)
      tmux('send-keys', '-t', 'top', 'q')
      await until('the shell back again', (s) => s.includes('prompt$') && !s.includes('ECONNREFUSED'))
    } finally {
      spawnSync(TMUX, ['-L', server, 'kill-server'])
    }
  })

  it('prints one plain frame when its output is a pipe, and exits 1 when the sidecar is gone', async () => {
    const ok = spawnSync(process.execPath, [CLI, 'top', '--url', rig.sidecar.url], { encoding: 'utf8' })
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(ok.stdout, /session:alice/)
    // An observed queue: its length, and no age or rates (–), rather than 0 ms and 0/s.
    assert.match(ok.stdout, /^ ws:outbound +sockets +173 +173 +– +– +– +0 /m)
    // Right under the semaphores, both channels, cut to the 120 columns of a piped frame (which is first
    // and the rates, – until the sidecar has polled twice, depend on how far the service got: the tmux
    // test waits for those).
    assert.match(
      ok.stdout,
      /^ semaphores: .*\n channels: fanout:(slow|rooms) [\d.]+ (B|KiB)\/(4|64) KiB in ([\d,.]+|–)\/s out ([\d,.]+|–)\/s refused ([\d,.]+|–)\/s {2}· {2}fanout:(slow|rooms) /m,
    )
    assert.match(ok.stdout, / channels: .*fanout:rooms/)
    assert.match(ok.stdout, / channels: .*fanout:slow/)
    assert.doesNotMatch(ok.stdout.replaceAll('\n', ''), CONTROL)

    const port = await freePort()
    const gone = spawnSync(process.execPath, [CLI, 'top', '--url', `http://127.0.0.1:${port}`], {
      encoding: 'utf8',
    })
    assert.equal(gone.status, 1)
    // Where the eye is: the line under the title, with what to do about it.
    assert.equal(
      gone.stdout.split('\n')[1],
      ` sidecar unreachable at http://127.0.0.1:${port}: ECONNREFUSED; retrying. Start it, or pass its --url (the demo prints it)`,
    )
  })

  it('documents itself and rejects bad options with exit code 2', () => {
    const help = spawnSync(process.execPath, [CLI, 'top', '--help'], { encoding: 'utf8' })
    assert.equal(help.status, 0)
    for (const word of ['--url', '--sort', '--interval-ms', 'q (or Ctrl-C) quits'])
      assert.ok(help.stdout.includes(word))
    const main = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' })
    assert.match(main.stdout, /beamline-sidecar top/)
    for (const [args, culprit] of [
      [['--sort', 'size'], '--sort'],
      [['--interval-ms', '5'], '--interval-ms'],
      [['--url', 'ftp://x'], '--url'],
      [['--bogus'], 'command line'],
    ] as const) {
      const r = spawnSync(process.execPath, [CLI, 'top', ...args], { encoding: 'utf8' })
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.ok(r.stderr.includes(culprit), r.stderr)
    }
  })

  it('formats ticks with the decimals their step needs, and an unknown age as –', () => {
    const ticks = (values: number[], step: number) => values.map((v) => formatTick(v, step))
    assert.deepEqual(ticks([0, 0.25, 0.5, 0.75, 1], 0.25), ['0', '0.25', '0.5', '0.75', '1'])
    assert.deepEqual(ticks([0, 0.2, 0.4], 0.2), ['0', '0.2', '0.4'])
    assert.deepEqual(ticks([0, 2, 4], 2), ['0', '2', '4'])
    assert.deepEqual(ticks([0, 2500, 5000, 7500, 10_000, 12_500], 2500), [
      '0',
      '2,500',
      '5,000',
      '7,500',
      '10 k',
      '12.5 k',
    ])
    assert.deepEqual(ticks([10_000, 10_250, 10_500], 250), ['10 k', '10.25 k', '10.5 k'])
    assert.deepEqual(ticks([2e6, 3e6], 1e6), ['2 M', '3 M'])
    assert.equal(formatAge(null), '–')
    assert.equal(formatAge(0), '0 ms')
  })

  it('fits every frame to the terminal, whatever its size', async () => {
    const get = async <T>(path: string) => (await fetch(`${rig.sidecar.url}${path}`)).json() as Promise<T>
    const api = await get<ApiSnapshot>('/api/v1/snapshot')
    const state: TopState = {
      options: { url: rig.sidecar.url, sort: 'length', intervalMs: 1000 },
      sort: 'rate',
      api,
      history: await get<ApiHistory>('/api/v1/history'),
      rows: mailboxRows(api),
      error: undefined,
    }
    assert.ok(state.rows.length >= 7)
    const failed = (withData: boolean): TopState => ({
      ...state,
      ...(withData ? {} : { api: undefined, history: undefined, rows: [] }),
      error: 'ECONNREFUSED',
    })
    for (const s of [state, failed(true), failed(false)]) {
      const frame = renderTop(s, 200, 40, false)
      // The reason of a failed poll is the line under the title; the last answer stays below it.
      if (s.error) assert.match(frame[1]!, /^ sidecar unreachable.*: ECONNREFUSED; retrying/)
      else assert.match(frame[1]!, /^ targets /)
      assert.equal(
        frame.some((l) => l.includes('session:alice')),
        s.api !== undefined,
      )
    }
    // A sidecar with no targets: no semaphores, no channels, each said so on its line.
    const none = renderTop({ ...state, api: { ...api, targets: [] }, rows: [] }, 120, 20, false)
    assert.ok(none.includes(` ${'semaphores: none'.padEnd(119)}`), none.join('\n'))
    assert.ok(none.includes(` ${'channels: none'.padEnd(119)}`), none.join('\n'))
    for (let width = 10; width <= 200; width += 7) {
      for (let height = 3; height <= 60; height += 5) {
        for (const [color, s] of [
          [true, state],
          [false, state],
          [true, failed(true)],
          [false, failed(false)],
        ] as const) {
          const frame = renderTop(s, width, height, color)
          assert.equal(frame.length, height, `${width}×${height}`)
          for (const line of frame) {
            const visible = line.replace(SGR, '')
            assert.doesNotMatch(visible, CONTROL)
            assert.ok([...visible].length <= width, `${width}×${height}: ${JSON.stringify(visible)}`)
          }
        }
      }
    }
    assert.deepEqual(parseTopArgs([]), {
      kind: 'run',
      options: { url: 'http://127.0.0.1:9464', sort: 'length', intervalMs: 1000 },
    })
  })

  it('checks its flags with the option kit, naming the flag and what it accepts', () => {
    assert.throws(() => parseTopArgs(['--sort', 'size']), {
      code: 'ERR_BEAMLINE_SIDECAR_CONFIG',
      message: `--sort: must be one of 'length', 'peak', 'age', 'rate', got "size"`,
    })
    assert.throws(() => parseTopArgs(['--interval-ms', 'soon']), {
      code: 'ERR_BEAMLINE_SIDECAR_CONFIG',
      message: '--interval-ms: must be an integer from 100 to 60000, got "soon"',
    })
    assert.throws(() => parseTopArgs(['--interval-ms', '50']), {
      message: '--interval-ms: must be an integer from 100 to 60000, got 50',
    })
    assert.equal(parseTopArgs(['--sort', 'rate', '--interval-ms', '250']).kind, 'run')
  })
})
