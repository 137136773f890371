import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Dispatcher } from 'undici'

/** The undici module's shape, as both majors export it (v7 is typed through v8's declarations). */
export type Undici = typeof import('undici')

/** Both supported majors: every suite runs once per entry. */
export const majors: ReadonlyArray<{ name: string; load: () => Promise<Undici> }> = [
  { name: 'undici@8', load: () => import('undici') },
  { name: 'undici@7', load: async () => (await import('undici7')) as unknown as Undici },
]

export interface TestServer {
  readonly server: Server
  readonly origin: string
  /** Requests the server has seen. */
  readonly seen: () => number
  close(): Promise<void>
}

/** A real node:http server on loopback, port chosen by the OS. */
export async function startServer(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TestServer> {
  let seen = 0
  const server = createServer((req, res) => {
    seen++
    handle(req, res)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    seen: () => seen,
    async close() {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}

/**
 * A server that holds every request until `release()`, tracking how many it holds at once: the
 * concurrency the origin actually sees, measured on the server side.
 */
export async function startGate(): Promise<
  TestServer & {
    readonly current: () => number
    readonly peak: () => number
    release(): void
    hold(): void
    waitFor(n: number): Promise<void>
  }
> {
  const held: ServerResponse[] = []
  let current = 0
  let peak = 0
  let waiter: { n: number; resolve: () => void } | null = null
  let open = false
  const srv = await startServer((_req, res) => {
    current++
    peak = Math.max(peak, current)
    res.on('close', () => current--)
    if (open) return void res.end('ok')
    held.push(res)
    if (waiter && current >= waiter.n) waiter.resolve()
  })
  return {
    ...srv,
    current: () => current,
    peak: () => peak,
    /** Answers the held requests, and every later one at once until `hold()`. */
    release() {
      open = true
      for (const res of held.splice(0)) res.end('ok')
    },
    hold() {
      open = false
    },
    waitFor(n: number) {
      if (current >= n) return Promise.resolve()
      return new Promise<void>((resolve) => {
        waiter = { n, resolve }
      })
    },
  }
}

/** A dispatch that answers every request at once with `status` and no body, without any I/O. */
export function answerAt(status: number): Dispatcher.Dispatch {
  const controller = { aborted: false, paused: false, reason: null, abort() {}, pause() {}, resume() {} }
  return (_opts, h) => {
    h.onRequestStart?.(controller, null)
    h.onResponseStart?.(controller, status, {}, '')
    h.onResponseEnd?.(controller, {})
    return true
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Settles every promise and sorts the outcomes into fulfilled values and rejection codes. */
export async function outcomes<T>(promises: Promise<T>[]): Promise<{ ok: T[]; codes: string[] }> {
  const results = await Promise.allSettled(promises)
  const ok: T[] = []
  const codes: string[] = []
  for (const r of results) {
    if (r.status === 'fulfilled') ok.push(r.value)
    else codes.push((r.reason as { code?: string }).code ?? String(r.reason))
  }
  return { ok, codes }
}

/**
 * An interceptor placed under the bulkhead (first in `compose`'s list) that counts the requests the
 * Agent holds at once: what the bulkhead bounds, measured on the client side. Unlike a server-side
 * count, it is not blurred by aborted requests whose socket close the server has not processed yet.
 */
export function wireCounter() {
  let current = 0
  let peak = 0
  const interceptor =
    (dispatch: Dispatcher.Dispatch): Dispatcher.Dispatch =>
    (opts, handler) => {
      peak = Math.max(peak, ++current)
      let done = false
      const end = () => {
        if (!done) current--
        done = true
      }
      return dispatch(opts, {
        onRequestStart: (c, ctx) => handler.onRequestStart?.(c, ctx),
        onResponseStart: (c, s, h, m) => handler.onResponseStart?.(c, s, h, m),
        onResponseData: (c, d) => handler.onResponseData?.(c, d),
        onResponseEnd(c, t) {
          end()
          handler.onResponseEnd?.(c, t)
        },
        onResponseError(c, e) {
          end()
          handler.onResponseError?.(c, e)
        },
        onRequestUpgrade(c, s, h, sock) {
          end()
          handler.onRequestUpgrade?.(c, s, h, sock)
        },
      })
    }
  return { interceptor, current: () => current, peak: () => peak }
}
