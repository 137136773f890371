import { readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { booleanOption, InvalidOptionError, integerOption, nameOption } from '@beamline/core'
import { developmentSocketDir, SOCKET_DIR } from '@beamline/exporter'
import { LineCounter, parseDocument } from 'yaml'
import { ConfigError } from './errors.js'
import { parseTarget, type Target } from './target.js'

/** The sidecar's settings, after merging flags, `BEAMLINE_*` variables, the config file and defaults. */
export interface SidecarConfig {
  /** Targets given explicitly. */
  readonly targets: readonly Target[]
  /** Directory whose Unix sockets are polled as they appear; none when undefined. */
  readonly discoverDir: string | undefined
  /** A `discoverDir` that does not exist is a configuration error rather than a warning. Default false. */
  readonly strict: boolean
  /** Where /metrics and the API are served. Default 127.0.0.1:9464 (loopback only). */
  readonly listen: { readonly host: string; readonly port: number }
  /** Poll interval in ms, 100 to 60 000. Default 1000. */
  readonly intervalMs: number
  /** Per-target budget for one poll (connect, headers and body), in ms. Default 500. */
  readonly timeoutMs: number
  /** Largest snapshot accepted, in bytes. Default 4 MiB. */
  readonly maxBodyBytes: number
  /** An instance not seen for this long has its series removed, in ms. Default 300 000 (5 min). */
  readonly ttlMs: number
  /** Most series served at once (and rate or peak histories held); a poll past it leaves the rest out. Default 100 000. */
  readonly maxSeries: number
  /** `_peak` gauges are the highest value of the polls over this trailing window, in ms. Default 30 000. */
  readonly peakWindowMs: number
  /** OTLP/HTTP push, when an endpoint is configured. */
  readonly otlp: { readonly endpoint: string; readonly intervalMs: number } | undefined
}

type Kind = 'targets' | 'string' | 'boolean' | 'listen' | 'integer' | 'url' | 'duration'

interface OptionSpec {
  readonly key: keyof SidecarConfig | 'otlpEndpoint' | 'otlpIntervalMs' | 'peakWindow'
  readonly flag: string
  readonly kind: Kind
  readonly min?: number
  readonly max?: number
  readonly def?: string | number
  /** Environment variable, when not `BEAMLINE_` + the flag. */
  readonly env?: string
  readonly help: string
}

const MiB = 1024 * 1024

/** Every setting, with its flag (`--flag`), variable (`BEAMLINE_FLAG`) and file key (`key`). */
const OPTIONS: readonly OptionSpec[] = [
  {
    key: 'targets',
    flag: 'target',
    env: 'BEAMLINE_TARGETS',
    kind: 'targets',
    help: 'Exporter to poll: unix:/path.sock or http://host:port. Repeatable; the variable takes a comma-separated list.',
  },
  {
    key: 'discoverDir',
    flag: 'discover-dir',
    kind: 'string',
    help: `Poll every Unix socket that appears in this directory (one per process or container), e.g. ${SOCKET_DIR}, or ${developmentSocketDir()} for a developer's exporters.`,
  },
  {
    key: 'strict',
    flag: 'strict',
    kind: 'boolean',
    def: 'false',
    help: 'Exit 2 when the --discover-dir directory does not exist, instead of warning and waiting for it.',
  },
  {
    key: 'listen',
    flag: 'listen',
    kind: 'listen',
    def: '127.0.0.1:9464',
    help: 'HOST:PORT to serve /metrics and /api/v1 on.',
  },
  {
    key: 'intervalMs',
    flag: 'interval-ms',
    kind: 'integer',
    min: 100,
    max: 60_000,
    def: 1000,
    help: 'Poll interval in milliseconds.',
  },
  {
    key: 'timeoutMs',
    flag: 'timeout-ms',
    kind: 'integer',
    min: 10,
    max: 60_000,
    def: 500,
    help: 'Per-target time limit of one poll in milliseconds.',
  },
  {
    key: 'maxBodyBytes',
    flag: 'max-body-bytes',
    kind: 'integer',
    min: 1024,
    max: 1024 * MiB,
    def: 4 * MiB,
    help: 'Largest snapshot accepted, in bytes.',
  },
  {
    key: 'ttlMs',
    flag: 'ttl-ms',
    kind: 'integer',
    min: 1000,
    max: 7 * 86_400_000,
    def: 300_000,
    help: 'Remove the series of an instance not seen for this long, in milliseconds.',
  },
  {
    key: 'maxSeries',
    flag: 'max-series',
    kind: 'integer',
    min: 100,
    max: 10_000_000,
    def: 100_000,
    help: 'Most series served (and rate or peak histories held); a poll past it leaves the rest out, counted.',
  },
  {
    key: 'peakWindow',
    flag: 'peak-window',
    kind: 'duration',
    min: 1000,
    max: 3_600_000,
    def: '30s',
    help: 'Each _peak gauge is the highest value the polls saw over this trailing window (500ms, 30s, 2m).',
  },
  {
    key: 'otlpEndpoint',
    flag: 'otlp-endpoint',
    kind: 'url',
    help: 'Also push metrics by OTLP/HTTP (JSON) to this URL, e.g. http://localhost:4318/v1/metrics.',
  },
  {
    key: 'otlpIntervalMs',
    flag: 'otlp-interval-ms',
    kind: 'integer',
    min: 100,
    max: 3_600_000,
    def: 10_000,
    help: 'OTLP push interval in milliseconds.',
  },
]

function envName(o: OptionSpec): string {
  return o.env ?? `BEAMLINE_${o.flag.replaceAll('-', '_').toUpperCase()}`
}

const ARG: Readonly<Record<Kind, string>> = {
  targets: 'URL',
  string: 'DIR',
  boolean: '',
  listen: 'HOST:PORT',
  integer: 'N',
  url: 'URL',
  duration: 'TIME',
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** `500ms`, `30s`, `2m`, `1h` in milliseconds; NaN for anything else. */
function durationMs(value: unknown): number {
  const m = typeof value === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim()) : null
  return m ? Math.round(Number(m[1]) * UNIT_MS[m[2]!]!) : Number.NaN
}

export const HELP = `Usage: beamline-sidecar [options]
       beamline-sidecar top [--url URL] [--sort length|peak|age|rate] [--interval-ms N]
                            (live terminal view of a running sidecar; see top --help)

Polls beamline exporters, computes rates and peaks, and serves them to Prometheus
(/metrics), as JSON (/api/v1/targets, /api/v1/snapshot) and by OTLP/HTTP push.

Options (each also settable as BEAMLINE_<NAME> in the environment, e.g.
BEAMLINE_INTERVAL_MS=500 or BEAMLINE_TARGETS=a,b, and as the camelCase key in
the config file, e.g. intervalMs or targets):
  --config FILE            YAML or JSON config file (env BEAMLINE_CONFIG)
${OPTIONS.map((o) => `  --${`${o.flag} ${ARG[o.kind]}`.trimEnd().padEnd(22)} ${o.help}${o.def === undefined || o.kind === 'boolean' ? '' : ` Default ${o.def}.`}`).join('\n')}
  --help                   Show this help.
  --version                Print the version.

Precedence: flags, then environment, then the config file, then defaults.
Give at least one --target or a --discover-dir. Exit codes: 0 after SIGTERM or
SIGINT, 1 on a runtime failure (e.g. port in use), 2 on a configuration error.

Endpoints: / (live status page), /metrics (Prometheus text; OpenMetrics when the
Accept header asks), /api/v1/targets, /api/v1/snapshot, /api/v1/history (5 min of
totals per poll cycle), /healthz, /readyz (after the first complete poll).
`

type Raw = { value: unknown; where: string }

/**
 * Checks one raw value (a string from a flag or variable, anything from a file) and returns it typed:
 * text is coerced first (`"500"` to 500, `"1"` to true), then checked by @beamline/core's option kit,
 * the one every package uses, its message located at `where`.
 */
function convert(spec: OptionSpec, raw: Raw): unknown {
  return located(raw.where, () => check(spec, raw))
}

/** Runs a check of the option kit and re-throws its error as a `ConfigError` located at `where`. */
export function located<T>(where: string, check: () => T): T {
  try {
    return check()
  } catch (err) {
    if (err instanceof InvalidOptionError) throw new ConfigError(where, err.detail)
    throw err
  }
}

function check(spec: OptionSpec, raw: Raw): unknown {
  const { value, where } = raw
  switch (spec.kind) {
    case 'targets': {
      const list = Array.isArray(value)
        ? value.map((v, i) => ({ v, where: where.startsWith('--') ? where : `${where}[${i}]` }))
        : typeof value === 'string'
          ? value
              .split(',')
              .filter((s) => s.trim() !== '')
              .map((v) => ({ v: v.trim(), where }))
          : undefined
      if (!list) throw new ConfigError(where, 'must be a list of target URLs')
      return list.map(({ v, where: w }) => {
        if (typeof v !== 'string')
          throw new ConfigError(w, 'must be a string such as unix:/run/beamline/app.sock')
        return parseTarget(v, w)
      })
    }
    case 'integer': {
      const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value
      return integerOption(where, n, spec.min!, spec.max!)
    }
    case 'listen': {
      const m = typeof value === 'string' ? /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value) : null
      const port = m ? Number(m[2]) : -1
      if (!m || port > 65535)
        throw new ConfigError(where, `must be HOST:PORT such as 127.0.0.1:9464, got ${JSON.stringify(value)}`)
      return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port }
    }
    case 'duration': {
      const ms = durationMs(value)
      if (!(ms >= spec.min! && ms <= spec.max!))
        throw new ConfigError(
          where,
          `must be a duration from ${spec.min! / 1000}s to ${spec.max! / 60_000}m such as 30s or 1500ms, got ${JSON.stringify(value)}`,
        )
      return { ms, where }
    }
    case 'url': {
      let ok = false
      try {
        ok = typeof value === 'string' && ['http:', 'https:'].includes(new URL(value).protocol)
      } catch {}
      if (!ok)
        throw new ConfigError(where, `must be an http:// or https:// URL, got ${JSON.stringify(value)}`)
      return value
    }
    case 'boolean': {
      const b =
        typeof value === 'boolean'
          ? value
          : ({ true: true, '1': true, false: false, '0': false } as const)[String(value)]
      // Text that is none of the four words: name them all, the kit knows only true and false.
      if (b === undefined && typeof value === 'string')
        throw new ConfigError(where, `must be true or false (or 1 or 0), got ${JSON.stringify(value)}`)
      return booleanOption(where, b ?? value)
    }
    case 'string':
      return resolve(nameOption(where, value, 4096))
  }
}

/** Reads a YAML or JSON file into raw values, each located by `file:line:col`. */
function readConfigFile(file: string): Map<string, Raw> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(
      file,
      `cannot read the config file (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      { cause: err },
    )
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false })
  const at = (offset: number | undefined) => {
    if (offset === undefined) return file
    const { line, col } = lineCounter.linePos(offset)
    return `${file}:${line}:${col}`
  }
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!
    throw new ConfigError(at(e.pos[0]), `invalid YAML/JSON: ${e.message.split('\n')[0]}`)
  }
  const data: unknown = doc.toJS()
  if (data === null || data === undefined) return new Map()
  if (typeof data !== 'object' || Array.isArray(data))
    throw new ConfigError(file, 'must contain a mapping of settings')
  const raws = new Map<string, Raw>()
  for (const [key, value] of Object.entries(data)) {
    const node = doc.get(key, true) as { range?: [number, number, number] } | undefined
    const where = at(node?.range?.[0])
    if (!OPTIONS.some((o) => o.key === key)) {
      throw new ConfigError(where, `unknown setting '${key}'; known: ${OPTIONS.map((o) => o.key).join(', ')}`)
    }
    raws.set(key, { value, where: `${where} ${key}` })
  }
  return raws
}

export type CliRequest = { kind: 'run'; config: SidecarConfig } | { kind: 'help' } | { kind: 'version' }

/** Turns the command line and environment into a config; throws `ConfigError` with the culprit named. */
export function resolveConfig(argv: readonly string[], env: NodeJS.ProcessEnv): CliRequest {
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        ...Object.fromEntries(
          OPTIONS.map((o) => [
            o.flag,
            o.kind === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: o.kind === 'targets' },
          ]),
        ),
      },
    })
  } catch (err) {
    throw new ConfigError('command line', `${(err as Error).message} (see --help)`)
  }
  const flags = parsed.values as Record<string, string | string[] | boolean | undefined>
  if (flags['help']) return { kind: 'help' }
  if (flags['version']) return { kind: 'version' }
  const file = (flags['config'] as string | undefined) ?? env['BEAMLINE_CONFIG']
  const fromFile = file ? readConfigFile(file) : new Map<string, Raw>()

  const config = build((o) => {
    const flag = flags[o.flag] as string | string[] | boolean | undefined
    if (flag !== undefined && !(Array.isArray(flag) && flag.length === 0))
      return { value: flag, where: `--${o.flag}` }
    const envValue = env[envName(o)]
    if (envValue !== undefined) return { value: envValue, where: envName(o) }
    return fromFile.get(o.key)
  })
  // A sidecar with nothing to poll would serve empty metrics forever: almost surely a mistake.
  if (config.targets.length === 0 && config.discoverDir === undefined)
    throw new ConfigError(
      'command line',
      'nothing to poll; pass --target unix:/path.sock or --target http://host:port (repeatable), ' +
        `or --discover-dir DIR to poll every exporter socket in DIR (${SOCKET_DIR}, or ${developmentSocketDir()} ` +
        `for exporters of a user who cannot write ${SOCKET_DIR}); ` +
        'or set BEAMLINE_TARGETS or BEAMLINE_DISCOVER_DIR, or targets or discoverDir in the --config file',
    )
  return { kind: 'run', config }
}

/** Builds the config from the first source that has each setting, falling back to the defaults. */
function build(lookup: (o: OptionSpec) => Raw | undefined): SidecarConfig {
  const values = new Map<string, unknown>()
  const wheres = new Map<string, string>()
  for (const o of OPTIONS) {
    const raw =
      lookup(o) ?? (o.def === undefined ? undefined : { value: o.def, where: `default of --${o.flag}` })
    if (raw) {
      values.set(o.key, convert(o, raw))
      wheres.set(o.key, raw.where)
    }
  }
  const endpoint = values.get('otlpEndpoint') as string | undefined
  const intervalMs = values.get('intervalMs') as number
  const peakWindow = values.get('peakWindow') as { ms: number; where: string }
  // A window shorter than the interval would hold one poll: the peak would be the value itself.
  if (peakWindow.ms < intervalMs)
    throw new ConfigError(
      peakWindow.where,
      `must be at least the poll interval (--interval-ms ${intervalMs}), got ${peakWindow.ms} ms`,
    )
  const discoverDir = values.get('discoverDir') as string | undefined
  const strict = values.get('strict') as boolean
  if (strict && discoverDir !== undefined && !isDirectory(discoverDir))
    throw new ConfigError(
      wheres.get('discoverDir')!,
      `${discoverDir} is not a directory (--strict); create it, or leave --strict out to wait for it`,
    )
  return {
    targets: (values.get('targets') as Target[] | undefined) ?? [],
    discoverDir,
    strict,
    listen: values.get('listen') as SidecarConfig['listen'],
    intervalMs,
    timeoutMs: values.get('timeoutMs') as number,
    maxBodyBytes: values.get('maxBodyBytes') as number,
    ttlMs: values.get('ttlMs') as number,
    maxSeries: values.get('maxSeries') as number,
    peakWindowMs: peakWindow.ms,
    otlp: endpoint ? { endpoint, intervalMs: values.get('otlpIntervalMs') as number } : undefined,
  }
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true
}

/** Settings for `startSidecar`, keyed like the config file (`targets`, `intervalMs`, `listen: 'host:port'`…). */
export type SidecarSettings = Partial<Record<OptionSpec['key'], unknown>>

/** A config for programmatic use, with the same checks and defaults as the command line. */
export function sidecarConfig(settings: SidecarSettings): SidecarConfig {
  return build((o) =>
    settings[o.key] === undefined ? undefined : { value: settings[o.key], where: `settings.${o.key}` },
  )
}
