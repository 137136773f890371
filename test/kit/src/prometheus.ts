/**
 * Real Prometheus servers (Debian's `prometheus` package) as child processes, and PromQL over their
 * HTTP API. Each server gets its own temporary data directory and a free loopback port.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants, writeFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, stopChild } from './processes.js'

/**
 * Path of a command of Debian's `prometheus` package (prometheus, promtool), or undefined after
 * skipping the test. Under CI (CI=true) a missing command fails instead: .ci/run installs it.
 */
export function prometheusTool(t: TestContext, name: 'prometheus' | 'promtool'): string | undefined {
  const path = commandOnPath(name)
  if (path) return path
  const message = `${name} not found on PATH: install the Debian package \`prometheus\` (apt-get install prometheus)`
  if (process.env.CI === 'true') throw new Error(message)
  t.skip(message)
  return undefined
}

/** Path of the executable `name` in a directory of PATH, or undefined. */
export function commandOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {}
  }
  return undefined
}

export interface PromSeries {
  metric: Record<string, string>
  value?: [number, string]
  values?: Array<[number, string]>
}

export interface PromResponse {
  status: string
  error?: string
  data: { resultType?: string; result?: PromSeries[] } & Record<string, unknown>
}

export interface PrometheusServer {
  readonly name: string
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly child: ChildProcess
  /** What it wrote on stderr so far. */
  log(): string
  /** GET `path` of the HTTP API with `params` (repeated for arrays). */
  api(path: string, params?: Record<string, string | string[]>): Promise<PromResponse>
  /** An instant query that must succeed: its series. */
  query(query: string, time?: number): Promise<PromSeries[]>
  /** A range query that must succeed: its series. */
  queryRange(query: string, start: number, end: number, step: number): Promise<PromSeries[]>
  /** The value of the first series of an instant query, NaN when there is none. */
  scalar(query: string, time?: number): Promise<number>
  stop(): Promise<void>
}

export interface PrometheusOptions {
  /** Path of the `prometheus` binary (from prometheusTool). */
  readonly bin: string
  /** For messages. */
  readonly name: string
  /** A directory of its own: the config is written there, the TSDB below it. */
  readonly dir: string
  /** prometheus.yml, as text. */
  readonly config: string
  /** More flags, e.g. `--web.enable-remote-write-receiver`. */
  readonly flags?: readonly string[]
}

/** Starts Prometheus and resolves once `/-/ready` answers 200 (fails after 60 s or if it exits). */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const port = await freePort()
  const config = join(options.dir, 'prometheus.yml')
  writeFileSync(config, options.config)
  let log = ''
  const child = spawn(
    options.bin,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(options.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...(options.flags ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    log += chunk
  })
  const url = `http://127.0.0.1:${port}`
  const api = async (path: string, params: Record<string, string | string[]> = {}): Promise<PromResponse> => {
    const qs = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) for (const x of [v].flat()) qs.append(k, x)
    const res = await fetch(`${url}${path}?${qs}`)
    return (await res.json()) as PromResponse
  }
  const must = async (path: string, params: Record<string, string>): Promise<PromSeries[]> => {
    const r = await api(path, params)
    if (r.status !== 'success') throw new Error(`${options.name}: ${r.error} in ${params.query}`)
    return r.data.result ?? []
  }
  const server: PrometheusServer = {
    name: options.name,
    url,
    child,
    log: () => log,
    api,
    query: (query, time) =>
      must('/api/v1/query', { query, ...(time === undefined ? {} : { time: String(time) }) }),
    queryRange: (query, start, end, step) =>
      must('/api/v1/query_range', { query, start: String(start), end: String(end), step: String(step) }),
    async scalar(query, time) {
      const v = (await server.query(query, time))[0]?.value
      return v ? Number(v[1]) : Number.NaN
    },
    stop: () => stopChild(child),
  }
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${options.name} exited with ${child.exitCode}: ${log}`)
    try {
      const res = await fetch(`${url}/-/ready`)
      await res.arrayBuffer()
      if (res.status === 200) return server
    } catch {}
    if (i > 300) {
      await server.stop()
      throw new Error(`${options.name} not ready after 60 s: ${log}`)
    }
    await sleep(200)
  }
}
