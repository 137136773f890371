/** Configuration from flags, BEAMLINE_* variables and files; every error names its source and exits 2. */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { type ConfigError, resolveConfig, sidecarConfig } from '../src/index.js'
import { CLI, startSidecarProcess } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'beamline-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function file(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 10_000,
  })
}

describe('resolveConfig', () => {
  it('has the documented defaults', () => {
    const r = resolveConfig(['--target', 'http://127.0.0.1:9465'], {})
    assert.equal(r.kind, 'run')
    if (r.kind !== 'run') return
    assert.deepEqual(r.config.listen, { host: '127.0.0.1', port: 9464 })
    assert.equal(r.config.intervalMs, 1000)
    assert.equal(r.config.timeoutMs, 500)
    assert.equal(r.config.maxBodyBytes, 4 * 1024 * 1024)
    assert.equal(r.config.ttlMs, 300_000)
    assert.equal(r.config.peakWindowMs, 30_000)
    assert.equal(r.config.otlp, undefined)
    assert.equal(r.config.discoverDir, undefined)
    assert.equal(r.config.strict, false)
  })

  it('refuses to start with nothing to poll, saying what to pass', () => {
    for (const env of [{}, { BEAMLINE_TARGETS: ' , ' }]) {
      assert.throws(() => resolveConfig([], env), {
        code: 'ERR_BEAMLINE_SIDECAR_CONFIG',
        message:
          /^command line: nothing to poll; pass --target unix:\/path\.sock or --target http:\/\/host:port \(repeatable\), or --discover-dir DIR .*BEAMLINE_TARGETS or BEAMLINE_DISCOVER_DIR/,
      })
    }
    // Either one is enough, from any source.
    assert.ok(resolveConfig(['--discover-dir', dir], {}).kind === 'run')
    assert.ok(resolveConfig([], { BEAMLINE_DISCOVER_DIR: dir }).kind === 'run')
    assert.ok(resolveConfig(['--config', file('t.yaml', 'targets: [unix:/run/a.sock]\n')], {}).kind === 'run')
    // Programmatic use may add targets later (tests, embedding): no such rule there.
    assert.deepEqual(sidecarConfig({}).targets, [])
  })

  it('with --strict, a discovery directory that does not exist is an error; without, it is waited for', () => {
    const missing = join(dir, 'does-not-exist')
    const strict =
      (argv: string[], env: NodeJS.ProcessEnv = {}) =>
      () =>
        resolveConfig(argv, env)
    assert.throws(strict(['--discover-dir', missing, '--strict']), {
      code: 'ERR_BEAMLINE_SIDECAR_CONFIG',
      message: `--discover-dir: ${missing} is not a directory (--strict); create it, or leave --strict out to wait for it`,
    })
    assert.throws(strict([], { BEAMLINE_DISCOVER_DIR: missing, BEAMLINE_STRICT: 'true' }), {
      message: /^BEAMLINE_DISCOVER_DIR: /,
    })
    assert.throws(strict(['--discover-dir', file('plain-file', ''), '--strict']), /is not a directory/)
    assert.throws(strict(['--discover-dir', dir], { BEAMLINE_STRICT: 'yes' }), {
      message: 'BEAMLINE_STRICT: must be true or false (or 1 or 0), got "yes"',
    })
    const r = resolveConfig(['--discover-dir', missing], {})
    assert.ok(r.kind === 'run' && r.config.discoverDir === missing && !r.config.strict)
    const ok = resolveConfig(['--discover-dir', dir, '--config', file('s.yaml', 'strict: true\n')], {})
    assert.ok(ok.kind === 'run' && ok.config.strict)
  })

  it('takes --peak-window as a duration, from every source, at least the poll interval', () => {
    const peak = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      const r = resolveConfig(argv, { BEAMLINE_TARGETS: 'http://127.0.0.1:9465', ...env })
      return r.kind === 'run' ? r.config.peakWindowMs : undefined
    }
    assert.equal(peak(['--peak-window', '1500ms']), 1500)
    assert.equal(peak(['--peak-window', '2m']), 120_000)
    assert.equal(peak([], { BEAMLINE_PEAK_WINDOW: '45s' }), 45_000)
    assert.equal(peak(['--config', file('p.yaml', 'peakWindow: 1h\n')]), 3_600_000)
    assert.equal(sidecarConfig({ peakWindow: '10s' }).peakWindowMs, 10_000)
    for (const [argv, message] of [
      [
        ['--peak-window', '30'],
        /--peak-window: must be a duration from 1s to 60m such as 30s or 1500ms, got "30"/,
      ],
      [['--peak-window', '500ms'], /--peak-window: must be a duration from 1s/],
      [['--peak-window', '2h'], /--peak-window: must be a duration/],
      [
        ['--peak-window', '2s', '--interval-ms', '5000'],
        /--peak-window: must be at least the poll interval \(--interval-ms 5000\), got 2000 ms/,
      ],
    ] as const)
      assert.throws(() => resolveConfig([...argv], {}), { code: 'ERR_BEAMLINE_SIDECAR_CONFIG', message })
    assert.throws(
      () => resolveConfig(['--config', file('p2.yaml', 'peakWindow: 30\n')], {}),
      /p2\.yaml:1:13 peakWindow: must be a duration/,
    )
  })

  it('takes flags over variables over the file', () => {
    const cfg = file(
      'c.yaml',
      'targets:\n  - unix:/run/a.sock\nintervalMs: 2000\ntimeoutMs: 300\nlisten: 0.0.0.0:9000\n',
    )
    const r = resolveConfig(['--config', cfg, '--interval-ms', '500', '--target', 'http://127.0.0.1:9465'], {
      BEAMLINE_INTERVAL_MS: '700',
      BEAMLINE_TIMEOUT_MS: '250',
      BEAMLINE_OTLP_ENDPOINT: 'http://collector:4318/v1/metrics',
    })
    assert.equal(r.kind, 'run')
    if (r.kind !== 'run') return
    assert.equal(r.config.intervalMs, 500)
    assert.equal(r.config.timeoutMs, 250)
    assert.deepEqual(r.config.listen, { host: '0.0.0.0', port: 9000 })
    assert.deepEqual(
      r.config.targets.map((t) => t.url),
      ['http://127.0.0.1:9465'],
    )
    assert.deepEqual(r.config.otlp, { endpoint: 'http://collector:4318/v1/metrics', intervalMs: 10_000 })
    const fromFile = resolveConfig([], {
      BEAMLINE_CONFIG: cfg,
      BEAMLINE_TARGETS: 'unix:/x.sock, http://[::1]:1',
    })
    assert.ok(fromFile.kind === 'run' && fromFile.config.targets.length === 2)
  })

  it('reads JSON files and the programmatic settings the same way', () => {
    const cfg = file('c.json', '{"targets": ["unix:/run/b.sock"], "maxSeries": 500}')
    const r = resolveConfig(['--config', cfg], {})
    assert.ok(
      r.kind === 'run' && r.config.maxSeries === 500 && r.config.targets[0]!.socketPath === '/run/b.sock',
    )
    assert.throws(() => sidecarConfig({ intervalMs: 5 }), {
      code: 'ERR_BEAMLINE_SIDECAR_CONFIG',
      message: /settings\.intervalMs: must be an integer from 100 to 60000/,
    })
  })

  it('locates errors in files by line and column', () => {
    const bad = file('bad.yaml', 'intervalMs: 1000\ntargets:\n  - ftp://x\n')
    assert.throws(
      () => resolveConfig(['--config', bad], {}),
      (err: ConfigError) => {
        assert.equal(err.code, 'ERR_BEAMLINE_SIDECAR_CONFIG')
        assert.match(err.message, /bad\.yaml:3:3 targets\[0\]: "ftp:\/\/x": unsupported scheme 'ftp:'/)
        return true
      },
    )
    const unknown = file('unknown.yaml', 'intervalMs: 1000\ninterval: 5\n')
    assert.throws(
      () => resolveConfig(['--config', unknown], {}),
      /unknown\.yaml:2:11: unknown setting 'interval'/,
    )
    const broken = file('broken.yaml', 'targets: [unix:/a.sock\nintervalMs: 3\n')
    assert.throws(() => resolveConfig(['--config', broken], {}), /broken\.yaml:\d+:\d+: invalid YAML\/JSON/)
  })
})

describe('beamline-sidecar command line', () => {
  it('exits 2 with the reason on configuration errors', () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['--bogus'], {}, /command line: Unknown option '--bogus'/],
      [['--target', 'ftp://host:1'], {}, /--target: "ftp:\/\/host:1": unsupported scheme 'ftp:'/],
      [['--target', 'unix:relative.sock'], {}, /needs an absolute path/],
      [['--config', join(dir, 'missing.yaml')], {}, /missing\.yaml: cannot read the config file \(ENOENT\)/],
      [
        ['--config', file('bad2.yaml', 'timeoutMs: soon\n')],
        {},
        /bad2\.yaml:1:12 timeoutMs: must be an integer from 10 to 60000, got "soon"/,
      ],
      [[], { BEAMLINE_LISTEN: 'nowhere' }, /BEAMLINE_LISTEN: must be HOST:PORT/],
      // A file's values are typed: checked by @beamline/core's option kit, located at the key.
      [
        ['--config', file('bad3.yaml', 'strict: 5\ntargets: [unix:/tmp/x.sock]\n')],
        {},
        /bad3\.yaml:1:9 strict: must be a boolean \(true or false\), got 5/,
      ],
      [
        ['--config', file('bad4.yaml', 'discoverDir: 7\n')],
        {},
        /bad4\.yaml:1:14 discoverDir: must be a non-empty string of at most 4096 UTF-8 bytes, got 7/,
      ],
      [[], {}, /command line: nothing to poll; pass --target .* or --discover-dir DIR/],
      [['--discover-dir', join(dir, 'nope'), '--strict'], {}, /--discover-dir: .*nope is not a directory/],
    ]
    for (const [args, env, message] of cases) {
      const r = run(args, env)
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, /configuration error/)
      assert.match(r.stderr, message)
    }
  })

  it('documents every option in --help', () => {
    const r = run(['--help'])
    assert.equal(r.status, 0)
    for (const flag of [
      '--config',
      '--target',
      '--discover-dir',
      '--listen',
      '--interval-ms',
      '--otlp-endpoint',
      '--timeout-ms',
      '--max-body-bytes',
      '--ttl-ms',
      '--max-series',
      '--peak-window',
      '--strict',
    ]) {
      assert.ok(r.stdout.includes(flag), flag)
    }
    assert.match(r.stdout, /BEAMLINE_/)
  })

  it('warns about a discovery directory that does not exist yet, and runs on', async () => {
    const missing = join(dir, 'later')
    const sidecar = await startSidecarProcess(['--discover-dir', missing])
    try {
      assert.match(
        sidecar.stderr(),
        new RegExp(`warning: ${missing} does not exist \\(yet\\); its sockets are polled once it does`),
      )
      assert.equal((await fetch(`${sidecar.url}/healthz`)).status, 200)
    } finally {
      sidecar.child.kill('SIGTERM')
      await once(sidecar.child, 'exit')
    }
  })

  it('prints its version', () => {
    const first = run(['--version'])
    assert.equal(first.status, 0)
    assert.match(first.stdout, /^\d+\.\d+\.\d+\n$/)
  })
})
