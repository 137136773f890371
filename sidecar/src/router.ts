import type { IncomingMessage, ServerResponse } from 'node:http'

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>

/**
 * Exact-path routing for the sidecar's few endpoints. Routes are added by path; GET also answers HEAD
 * (node drops the body). Unknown paths get 404, known paths with another method 405 with `Allow`.
 * A handler that throws gets a 500 instead of crashing the process.
 */
export class Router {
  private readonly routes = new Map<string, Map<string, Handler>>()

  add(method: 'GET' | 'POST', path: string, handler: Handler): this {
    let byMethod = this.routes.get(path)
    if (!byMethod) this.routes.set(path, (byMethod = new Map()))
    byMethod.set(method, handler)
    return this
  }

  get(path: string, handler: Handler): this {
    return this.add('GET', path, handler)
  }

  /** The paths served, for the index and tests. */
  paths(): string[] {
    return [...this.routes.keys()]
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sidecar')
    const byMethod = this.routes.get(url.pathname)
    if (!byMethod) {
      sendJson(res, 404, { error: 'not found', paths: this.paths() })
      return
    }
    const handler = byMethod.get(req.method === 'HEAD' ? 'GET' : (req.method ?? ''))
    if (!handler) {
      res.writeHead(405, { allow: [...byMethod.keys()].join(', ') }).end()
      return
    }
    try {
      await handler(req, res, url)
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { error: (err as Error).message })
      else res.destroy()
    }
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    })
    .end(text)
}
