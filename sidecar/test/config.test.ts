/** Configuration from flags, BEAMLINE_* variables and files; every error names its source and exits 2. */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { type ConfigError, resolveConfig, sidecarConfig } from '../src/index.js'
import { CLI } from './helpers.js'

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
    const r = resolveConfig([], {})
    assert.equal(r.kind, 'run')
    if (r.kind !== 'run') return
    assert.deepEqual(r.config.listen, { host: '127.0.0.1', port: 9464 })
    assert.equal(r.config.intervalMs, 1000)
    assert.equal(r.config.timeoutMs, 500)
    assert.equal(r.config.maxBodyBytes, 4 * 1024 * 1024)
    assert.equal(r.config.ttlMs, 300_000)
    assert.equal(r.config.peakWindowMs, 30_000)
    assert.equal(r.config.otlp, undefined)
  })

  it('takes --peak-window as a duration, from every source, at least the poll interval', () => {
    const peak = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      const r = resolveConfig(argv, env)
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
    ]) {
      assert.ok(r.stdout.includes(flag), flag)
    }
    assert.match(r.stdout, /BEAMLINE_/)
  })

  it('prints its version', () => {
    const first = run(['--version'])
    assert.equal(first.status, 0)
    assert.match(first.stdout, /^\d+\.\d+\.\d+\n$/)
  })
})
