import { stat } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { performance } from 'node:perf_hooks'
import { developmentSocketDir, SOCKET_DIR } from '@beamline/exporter'
import type { SidecarConfig } from './config.js'
import { scanSockets } from './discovery.js'
import { createExposition, wantsOpenMetrics } from './exposition.js'
import type { OtlpPush } from './otlp.js'
import { TargetClient } from './poller.js'
import { Router, sendJson } from './router.js'
import { mountStatusPage } from './status-page.js'
import { Store, type TargetState } from './store.js'
import { parseTarget } from './target.js'

export interface Sidecar {
  /** `http://host:port` the sidecar serves on. */
  readonly url: string
  readonly store: Store
  /** The HTTP routes (the status page at `/` included); add more before or after start. */
  readonly router: Router
  readonly config: SidecarConfig
  /** Resolves after the first poll cycle in which every target answered or failed. */
  readonly ready: Promise<void>
  /** Stops polling and serving, pushes a last OTLP export; bounded by `timeoutMs` (default 4000). */
  close(timeoutMs?: number): Promise<void>
}

interface Polled {
  readonly state: TargetState
  readonly client: TargetClient
  inFlight: boolean
  /** For discovered sockets: the file's identity. */
  socketId?: string
  /** While failing: since when, how many polls in a row, why the last one failed, when last logged. */
  failing?: { readonly since: number; polls: number; reason: string; loggedAt: number }
}

/** Optional hooks for embedding and tests. */
export interface SidecarHooks {
  /**
   * Called with one line per notable event: start, a target going down (once, and again when the
   * reason changes), still down (every `downReminderMs`), up again (with the count of failed polls).
   * Default: stderr.
   */
  readonly log?: (line: string) => void
  /** A target still down is logged again this often, in ms, with its count of failed polls. Default 300 000. */
  readonly downReminderMs?: number
}

/**
 * Starts polling and serving. Every target is polled on its own: a poll still running when the next
 * tick comes is not started again, and no poll waits for another, so a hung target only delays itself
 * (by at most `timeoutMs`).
 */
export async function startSidecar(config: SidecarConfig, hooks: SidecarHooks = {}): Promise<Sidecar> {
  const log = hooks.log ?? ((line: string) => process.stderr.write(`beamline-sidecar: ${line}\n`))
  const downReminderMs = hooks.downReminderMs ?? 300_000
  const store = new Store({ ...config, log })
  const polled = new Map<string, Polled>()
  const forgotten = new Map<string, string>()
  const limits = { timeoutMs: config.timeoutMs, maxBodyBytes: config.maxBodyBytes }

  const addTarget = (target: ReturnType<typeof parseTarget>, socketId?: string) => {
    const state = store.add(target)
    const entry: Polled = { state, client: new TargetClient(target, limits), inFlight: false }
    if (socketId !== undefined) entry.socketId = socketId
    polled.set(target.url, entry)
  }
  const removeTarget = (url: string) => {
    const entry = polled.get(url)
    if (!entry) return
    polled.delete(url)
    store.remove(url)
    void entry.client.close()
  }
  for (const t of config.targets) addTarget(t)
  if (config.discoverDir !== undefined && !(await isDirectory(config.discoverDir)))
    log(
      `warning: ${config.discoverDir} does not exist (yet); its sockets are polled once it does (--strict makes this an error)` +
        (config.discoverDir === SOCKET_DIR
          ? `; exporters of a user who cannot write ${SOCKET_DIR} listen in ${developmentSocketDir()}`
          : ''),
    )

  const discover = async () => {
    if (!config.discoverDir) return
    const found = await scanSockets(config.discoverDir)
    const present = new Set(found.map((f) => `unix:${f.path}`))
    for (const [url, entry] of polled) {
      if (entry.state.target.discovered && !present.has(url)) {
        log(`${url} removed (socket gone)`)
        removeTarget(url)
      }
    }
    for (const f of found) {
      const url = `unix:${f.path}`
      const existing = polled.get(url)
      if (existing && existing.socketId !== f.id) removeTarget(url)
      if (polled.has(url) || forgotten.get(url) === f.id) continue
      forgotten.delete(url)
      addTarget(parseTarget(url, config.discoverDir, true), f.id)
      log(`${url} discovered`)
    }
  }

  const pollOne = async (entry: Polled) => {
    entry.inFlight = true
    const start = performance.now()
    const result = await entry.client.poll()
    entry.inFlight = false
    if (polled.get(entry.state.target.url) !== entry) return
    const wasUp = entry.state.up
    const now = Date.now()
    store.record(entry.state, result, performance.now() - start, now)
    const url = entry.state.target.url
    const failing = entry.failing
    if (result.ok) {
      delete entry.failing
      const who = `${result.snapshot.service} ${result.snapshot.instance}`
      if (failing) log(`${url} up again (${who}) after ${failedPolls(failing, now)}`)
      else if (!wasUp) log(`${url} up (${who})`)
      return
    }
    if (!failing) {
      entry.failing = { since: now, polls: 1, reason: result.reason, loggedAt: now }
      log(`${url} down: ${result.reason}`)
      return
    }
    failing.polls++
    // One line per change of state, not one per poll: a new reason, or a reminder now and then.
    const changed = result.reason !== failing.reason
    if (changed || now - failing.loggedAt >= downReminderMs) {
      failing.reason = result.reason
      failing.loggedAt = now
      log(`${url} still down${changed ? ', now' : ''}: ${result.reason} (${failedPolls(failing, now)})`)
    }
    // A discovered socket nobody answers on for the whole TTL is a leftover of a dead process.
    if (entry.socketId !== undefined && now - failing.since > config.ttlMs) {
      log(`${url} forgotten after failing for ${config.ttlMs} ms`)
      forgotten.set(url, entry.socketId)
      removeTarget(url)
    }
  }

  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  let closed = false
  const tick = async () => {
    const start = performance.now()
    await discover()
    if (closed) return
    await Promise.all([...polled.values()].filter((e) => !e.inFlight).map(pollOne))
    store.lastCycleSeconds = (performance.now() - start) / 1000
    store.endCycle(Date.now())
    if (!store.ready) {
      store.ready = true
      markReady()
    }
  }
  const timer = setInterval(() => void tick(), config.intervalMs)
  void tick()

  const exposition = createExposition(store)
  const router = new Router()
    .get('/metrics', async (req, res) => {
      const { contentType, body } = await exposition.render(wantsOpenMetrics(req.headers.accept))
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) }).end(body)
    })
    .get('/api/v1/targets', (_req, res) =>
      sendJson(res, 200, { targets: [...store.targets.values()].map(targetJson) }),
    )
    .get('/api/v1/snapshot', (_req, res) =>
      sendJson(res, 200, {
        time: Date.now(),
        intervalMs: config.intervalMs,
        ready: store.ready,
        targets: [...store.targets.values()].map((t) => ({
          ...targetJson(t),
          snapshot: t.snapshot,
          rates: t.ratesJson(),
          topRates: t.topRates,
        })),
      }),
    )
    .get('/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }))
    .get('/readyz', (_req, res) =>
      sendJson(res, store.ready ? 200 : 503, {
        status: store.ready ? 'ready' : 'waiting for the first poll cycle',
      }),
    )

  mountStatusPage(router, store.timeline)

  const server: Server = createServer((req, res) => void router.handle(req, res))
  server.headersTimeout = 5000
  server.requestTimeout = 10_000
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(config.listen.port, config.listen.host, () => resolve())
    })
  } catch (err) {
    closed = true
    clearInterval(timer)
    await Promise.all([...polled.values()].map((e) => e.client.close()))
    throw err
  }
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : config.listen.port
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host
  const url = `http://${host}:${port}`
  // Loaded only when asked for: the OpenTelemetry SDK is most of what the sidecar would otherwise load.
  const otlp: OtlpPush | undefined = config.otlp
    ? (await import('./otlp.js')).startOtlpPush(store, { ...config.otlp, log })
    : undefined
  log(
    `serving ${url}/metrics; polling ${config.targets.length} target(s)${config.discoverDir ? ` and sockets in ${config.discoverDir}` : ''} every ${config.intervalMs} ms`,
  )

  let closing: Promise<void> | undefined
  return {
    url,
    store,
    router,
    config,
    ready,
    close(timeoutMs = 4000) {
      closing ??= (async () => {
        closed = true
        clearInterval(timer)
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeAllConnections()
        await Promise.all([
          stopped,
          ...[...polled.values()].map((e) => e.client.close()),
          otlp?.shutdown(Math.max(0, timeoutMs - 500)),
        ])
      })()
      return closing
    },
  }
}

/** `14 failed polls in 15 s` */
function failedPolls(failing: NonNullable<Polled['failing']>, now: number): string {
  return `${failing.polls} failed poll${failing.polls === 1 ? '' : 's'} in ${Math.round((now - failing.since) / 1000)} s`
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true
}

function targetJson(t: TargetState) {
  return {
    target: t.target.url,
    discovered: t.target.discovered,
    up: t.up,
    reason: t.reason,
    service: t.snapshot?.service ?? null,
    instance: t.snapshot?.instance ?? null,
    lastPollTime: t.lastPollTime,
    lastSuccessTime: t.lastSuccessTime,
    pollDurationSeconds: t.pollDurationSeconds,
  }
}
