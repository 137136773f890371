/**
 * Graded load shedding at the HTTP edge, one guard behind two shapes: a node:http / connect /
 * express middleware `(req, res, next)` and a fastify plugin. A refused request gets 503 with
 * `Retry-After` and a small JSON body naming the level and the reason, and is counted by route and
 * reason (`pressure.shedStats()`), before any of the application's work runs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  type EdgeOptions,
  edgeOptions,
  type FastifyLike,
  functionOption,
  InvalidOptionError,
  overloadResponse,
  pathOf,
} from '@beamline/core'
import type { PressureLevel, PressureMonitor } from './monitor.js'

/**
 * `retryAfterSeconds` (default 5), `exempt` (default `['/healthz', '/livez']`; keep `/readyz` out of
 * it only if you want the balancer to see 503 from it as well, `readyzHandler` answers it explicitly)
 * and `route` are shared with every beamline door guard (`@beamline/core`'s `EdgeOptions`), so that a
 * shedder and a limiter in front of the same routes exempt and label alike.
 */
export interface ShedderOptions extends EdgeOptions<IncomingMessage> {
  /**
   * Priority of a request for `pressure.admit()`: 0 low (default), 1 normal, 2 critical (never shed).
   * Called once per request while the level is above 0; keep it cheap.
   */
  priority?: (req: IncomingMessage) => number
}

/** Why a request was refused. */
export interface Refusal {
  level: 1 | 2
  reason: string
  route: string
}

export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void

/** The decision shared by every shape of the shedder: `check(req)` returns a refusal, or undefined to admit. */
export interface Guard {
  check(req: IncomingMessage, routePattern?: string): Refusal | undefined
  /** Status, headers and body of the 503 for a refusal. */
  response(refusal: Refusal): { status: 503; headers: Record<string, string>; body: string }
}

export function createGuard(pressure: PressureMonitor, options: ShedderOptions = {}): Guard {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object')
  const edge = edgeOptions(options)
  const priority = functionOption<(req: IncomingMessage) => number>('priority', options.priority)
  return {
    check(req, routePattern) {
      // Level 0 is the common case: one Atomics.load and nothing else.
      if (pressure.level === 0) return undefined
      const path = pathOf(req.url)
      if (edge.isExempt(path)) return undefined
      if (pressure.admit(priority ? priority(req) : 0)) return undefined
      // The level may have dropped since admit() read it; then admit after all.
      const level = pressure.level as PressureLevel
      if (level === 0) return undefined
      const refusal: Refusal = {
        level,
        reason: pressure.topReason(),
        route: edge.routeOf(req, path, routePattern),
      }
      pressure.recordShed(refusal.route, refusal.reason)
      return refusal
    },
    response(refusal) {
      return overloadResponse(edge.retryAfterSeconds, { level: refusal.level, reason: refusal.reason })
    },
  }
}

/**
 * Middleware for node:http, and for express and connect (the same `(req, res, next)` shape):
 * `http.createServer((req, res) => guard(req, res, () => app(req, res)))`, or
 * `app.use(httpShedder(pressure, options))` before the routes.
 */
export function httpShedder(pressure: PressureMonitor, options?: ShedderOptions): Middleware {
  const guard = createGuard(pressure, options)
  return (req, res, next) => {
    const refusal = guard.check(req)
    if (!refusal) return next()
    const { status, headers, body } = guard.response(refusal)
    res.writeHead(status, headers).end(body)
  }
}

export interface FastifyShedderOptions extends ShedderOptions {
  pressure: PressureMonitor
}

/**
 * A fastify plugin: `fastify.register(fastifyShedder, { pressure, ...options })`. It applies to the
 * whole instance it is registered on (not encapsulated, like fastify-plugin), in `onRequest`, before
 * body parsing. Refusals are counted under the route pattern (`/users/:id`) unless `route` is given.
 */
export function fastifyShedder(
  fastify: FastifyLike,
  options: FastifyShedderOptions,
  done: (error?: Error) => void,
): void {
  const { pressure, ...rest } = options ?? ({} as FastifyShedderOptions)
  if (typeof pressure?.admit !== 'function')
    throw new InvalidOptionError('pressure', 'must be a PressureMonitor')
  const guard = createGuard(pressure, rest)
  fastify.addHook('onRequest', (request, reply, next) => {
    const refusal = guard.check(request.raw, request.routeOptions?.url)
    if (!refusal) return next()
    const { status, headers, body } = guard.response(refusal)
    reply.code(status).headers(headers).send(body)
  })
  done()
}
// Registered without encapsulation (what fastify-plugin does), so the hook covers sibling routes.
Object.assign(fastifyShedder, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@beamline/pressure',
})
