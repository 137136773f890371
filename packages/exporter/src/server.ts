import { constants } from 'node:fs'
import { access, chmod, lstat, mkdir, unlink } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { InvalidOptionError, integerOption, nameOption, warnOnce } from '@beamline/core'
import { ListenError } from './errors.js'
import { acquireRuntimeSampler, releaseRuntimeSampler } from './runtime.js'
import { buildSnapshot, SNAPSHOT_PATH, type Snapshot, snapshotJson } from './snapshot.js'
import type { Sources } from './sources.js'

/** Where the exporter listens. */
export type ListenOptions =
  | {
      /**
       * Unix socket path. A stale socket file (no process answering) is removed first. Under
       * `/run/beamline` (the sidecar's usual `--discover-dir`), when that directory cannot be created
       * or written (a developer who is not root: EACCES), the socket goes to `developmentSocketDir()`
       * instead, with a warning naming it; `exporter.url` tells where.
       */
      readonly path: string
      /**
       * File mode of the socket. Default `0o600`: only the service's user can connect, so the
       * sidecar runs as the same user (or use `0o660` and share a group). Connecting needs write permission.
       */
      readonly mode?: number
    }
  | {
      /** Interface to bind. Default `127.0.0.1`; anything else exposes the snapshot to the network. */
      readonly host?: string
      /** TCP port, 0 for an ephemeral one (read it back from `exporter.url`). */
      readonly port: number
    }

export interface ExporterOptions extends Sources {
  /** Service name, the `service` label of every metric. 1 to 200 UTF-8 bytes. */
  readonly service: string
  /** Identity of this process among the service's replicas, the `instance` label. Default `hostname:pid`. */
  readonly instance?: string
  readonly listen: ListenOptions
  /** Mailboxes listed by length in each snapshot (the JSON's `mailboxes.top`). 0 to 1000, default 20. */
  readonly topN?: number
}

export interface Exporter {
  /** `unix:/path.sock` or `http://host:port`: what to pass to `beamline-sidecar --target`. */
  readonly url: string
  /** Builds a snapshot now, as `GET /beamline/v1/snapshot` would return it. */
  snapshot(): Snapshot
  /** Stops listening, closes open connections and removes the socket file. Idempotent. */
  close(): Promise<void>
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code
}

/** Where services' exporter sockets go in production: the sidecar's usual `--discover-dir`. */
export const SOCKET_DIR = '/run/beamline'

/**
 * Where exporter sockets go when `/run/beamline` cannot be written (a developer who is not root):
 * `$XDG_RUNTIME_DIR/beamline` (per user, e.g. `/run/user/1000/beamline`), or else
 * `<os temp dir>/beamline-<uid>`, created owner-only.
 */
export function developmentSocketDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env['XDG_RUNTIME_DIR']
  if (runtime?.startsWith('/')) return join(runtime, 'beamline')
  return join(tmpdir(), `beamline-${process.getuid?.() ?? 'user'}`)
}

const NOT_ALLOWED = new Set(['EACCES', 'EPERM', 'EROFS'])

/** Creates the socket's directory and checks that it may be written; the fallback below decides. */
async function prepareDir(dir: string, mode: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode })
  await access(dir, constants.W_OK | constants.X_OK)
}

/**
 * The directory for `socketPath`, or for a socket of the same name in the development directory when
 * `/run/beamline` is not ours to write. In a shared temp dir, a directory someone else created (or
 * made writable to others) is refused: they could replace our socket.
 */
async function socketLocation(socketPath: string): Promise<string> {
  const dir = dirname(socketPath)
  try {
    await prepareDir(dir, 0o755)
    return socketPath
  } catch (err) {
    if (dir !== SOCKET_DIR || !NOT_ALLOWED.has(errno(err) ?? '')) throw err
    const devDir = developmentSocketDir()
    await prepareDir(devDir, 0o700)
    const st = await lstat(devDir)
    if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0)
      throw new ListenError(
        `cannot write ${SOCKET_DIR} (${errno(err)}), and ${devDir} is not a directory of this user's that only it can write`,
      )
    const fallback = join(devDir, basename(socketPath))
    process.emitWarning(
      `beamline exporter: cannot write ${SOCKET_DIR} (${errno(err)}: not root?); listening on ${fallback} instead, a development location: run the sidecar with --discover-dir ${devDir} (or --target unix:${fallback})`,
      { type: 'BeamlineWarning', code: 'BEAMLINE_DEVELOPMENT_SOCKET' },
    )
    return fallback
  }
}

/** Removes `path` if it is a socket nobody answers on; refuses to touch anything else. */
async function clearStaleSocket(path: string): Promise<void> {
  let stat: Awaited<ReturnType<typeof lstat>>
  try {
    stat = await lstat(path)
  } catch (err) {
    if (errno(err) === 'ENOENT') return
    throw new ListenError(`cannot inspect ${path}`, { cause: err })
  }
  if (!stat.isSocket()) throw new ListenError(`${path} exists and is not a socket; refusing to replace it`)
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
  if (alive) throw new ListenError(`${path} is in use by a running process`)
  await unlink(path)
}

function listen(server: Server, target: Parameters<Server['listen']>[0]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(target, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/**
 * Serves `GET /beamline/v1/snapshot` on a Unix socket or a loopback TCP port. Each request builds the
 * snapshot from counters in shared memory and writes a few kilobytes of JSON: the formatting, rates
 * and export happen in the sidecar, off the service's event loop.
 */
export async function startExporter(options: ExporterOptions): Promise<Exporter> {
  const service = nameOption('service', options.service)
  const instance = options.instance === undefined ? undefined : nameOption('instance', options.instance)
  const topN = integerOption('topN', options.topN, 0, 1000, 20)
  const listenOpt = options.listen as
    | Partial<{ path: string; mode: number; host: string; port: number }>
    | undefined
  if (typeof listenOpt !== 'object' || listenOpt === null) {
    throw new InvalidOptionError('listen', 'must be { path } or { host?, port }')
  }
  const sources: Sources = options
  const identity = { service, instance }
  const runtime = acquireRuntimeSampler()
  const snapshot = () => buildSnapshot(identity, sources, runtime, topN)

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?', 1)[0]
    if (path !== SNAPSHOT_PATH) {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end(`not found; the snapshot is at ${SNAPSHOT_PATH}\n`)
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    let body: string
    try {
      body = snapshotJson(snapshot())
    } catch (err) {
      warnOnce('exporter:serve', 'beamline exporter: building a snapshot failed', err)
      res.writeHead(500).end()
      return
    }
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  })
  // Bounded input: nobody needs more than a request line and a few headers here.
  server.headersTimeout = 2000
  server.requestTimeout = 5000
  // Longer than any sane poll interval, so the sidecar keeps one connection open.
  server.keepAliveTimeout = 30_000

  let url: string
  let socketPath: string | undefined
  try {
    if (typeof listenOpt.path === 'string') {
      socketPath = nameOption('listen.path', listenOpt.path, 4096)
      const mode = integerOption('listen.mode', listenOpt.mode, 0, 0o777, 0o600)
      socketPath = await socketLocation(socketPath)
      await clearStaleSocket(socketPath)
      await listen(server, { path: socketPath })
      await chmod(socketPath, mode)
      url = `unix:${socketPath}`
    } else {
      const port = integerOption('listen.port', listenOpt.port, 0, 65535)
      const host = listenOpt.host === undefined ? '127.0.0.1' : nameOption('listen.host', listenOpt.host)
      await listen(server, { host, port })
      const addr = server.address()
      const bound = typeof addr === 'object' && addr ? addr.port : port
      url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`
    }
  } catch (err) {
    releaseRuntimeSampler(runtime)
    server.close()
    if (err instanceof ListenError || err instanceof InvalidOptionError) throw err
    throw new ListenError(
      `cannot listen on ${socketPath ?? `${listenOpt.host ?? '127.0.0.1'}:${listenOpt.port}`}`,
      { cause: err },
    )
  }

  let closing: Promise<void> | undefined
  return {
    url,
    snapshot,
    close() {
      closing ??= (async () => {
        releaseRuntimeSampler(runtime)
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeAllConnections()
        await closed
        if (socketPath) await unlink(socketPath).catch(() => {})
      })()
      return closing
    },
  }
}
