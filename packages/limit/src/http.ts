/**
 * An adaptive limit at the HTTP door, one guard behind two shapes: node:http / connect / express
 * middleware `(req, res, next)` and a fastify plugin. A request takes a token before any of the
 * application's work runs (waiting in the limit's queue if it has one) and gives it back when the
 * response is over: `success()` when it finished (the RTT runs from admission to the response's
 * end), `dropped()` when the application answered 5xx (it failed under load), `ignore()` when the
 * client went away first. A refused request gets 503 with `Retry-After` and a JSON body naming the
 * reason: `limit` (no queue), `queue-full`, or `timeout` (CoDel, maxWaitMs).
 *
 * With httpShedder from @beamline/pressure: put the shedder first (it refuses on process-wide
 * signals, the limiter on latency), give both the same `exempt`, and pass the same monitor as
 * `pressure` here: the limiter's refusals are then counted with the shedder's in
 * `pressure.shedStats()`, by route and reason, one table for both.
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
import { LimitQueueFullError, LimitRefusedError, LimitTimeoutError } from './errors.js'
import { AdaptiveLimit, admitAtOnce, type Token } from './limit.js'

/** Where refusals are counted by route and reason: a `PressureMonitor` of @beamline/pressure. */
export interface RefusalCounter {
  recordShed(route: string, reason: string): void
}

export interface LimiterOptions extends EdgeOptions<IncomingMessage> {
  /**
   * The partition of a request (one of the limit's partition names). Required when the limit has
   * partitions; called once per request, keep it cheap.
   */
  partition?: (req: IncomingMessage) => string
  /**
   * Count refusals in this monitor's `shedStats()` (reasons `limit`, `queue-full`, `timeout`), next
   * to httpShedder's. Optional; `limit.stats()` counts them by partition either way.
   */
  pressure?: RefusalCounter
}

export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void

type Refuse = (response: ReturnType<typeof overloadResponse>) => void

/** Why a wait is abandoned when the client leaves: a constant, not a DOMException per request. */
const CLIENT_GONE = Symbol('client gone')

/** The reason label of a refusal, as counted and sent. */
function reasonOf(err: LimitRefusedError): string {
  if (err instanceof LimitQueueFullError) return 'queue-full'
  if (err instanceof LimitTimeoutError) return 'timeout'
  return 'limit'
}

/** Admission at the door, shared by the middleware and the fastify plugin. */
function createDoor(limit: AdaptiveLimit, options: LimiterOptions) {
  if (!(limit instanceof AdaptiveLimit)) throw new InvalidOptionError('limit', 'must be an AdaptiveLimit')
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object')
  const edge = edgeOptions(options)
  const partition = functionOption<(req: IncomingMessage) => string>('partition', options.partition)
  if (partition === undefined && limit.partitions.length > 1) {
    throw new InvalidOptionError(
      'partition',
      `is required: limit ${JSON.stringify(limit.name)} has partitions ${limit.partitions.join(', ')}`,
    )
  }
  const pressure = options.pressure
  if (pressure !== undefined && typeof pressure?.recordShed !== 'function')
    throw new InvalidOptionError('pressure', 'must have recordShed(route, reason), as a PressureMonitor')

  // Three reasons, three constant answers: built once, not per refusal.
  const responses: Record<string, ReturnType<typeof overloadResponse>> = {}
  for (const reason of ['limit', 'queue-full', 'timeout'])
    responses[reason] = overloadResponse(edge.retryAfterSeconds, { reason, limit: limit.name })

  return (
    req: IncomingMessage,
    res: ServerResponse,
    pattern: string | undefined,
    next: (error?: unknown) => void,
    refuse: Refuse,
  ): void => {
    const path = pathOf(req.url)
    if (edge.isExempt(path)) {
      next()
      return
    }
    let wanted: string | undefined
    let token: Token | undefined
    try {
      wanted = partition?.(req)
      token = admitAtOnce(limit, wanted)
    } catch (err) {
      next(err)
      return
    }
    // 'close' follows 'finish' when the response completed, and comes alone when the connection
    // went away first: one listener tells the three outcomes apart.
    let gone: AbortController | undefined
    res.once('close', () => {
      if (token === undefined) gone?.abort(CLIENT_GONE)
      else if (!res.writableFinished) token.ignore()
      else if (res.statusCode >= 500) token.dropped()
      else token.success()
    })
    if (token !== undefined) {
      next()
      return
    }
    gone = new AbortController()
    limit.acquire({ partition: wanted, signal: gone.signal }).then(
      (t) => {
        if (gone!.signal.aborted) return t.ignore()
        token = t
        next()
      },
      (err: unknown) => {
        if (gone!.signal.aborted) return
        if (!(err instanceof LimitRefusedError)) return next(err)
        const reason = reasonOf(err)
        pressure?.recordShed(edge.routeOf(req, path, pattern), reason)
        refuse(responses[reason]!)
      },
    )
  }
}

/**
 * Middleware for node:http (and anything with the same `(req, res, next)` shape, connect and
 * express included): `http.createServer((req, res) => limiter(req, res, () => app(req, res)))`, or
 * `app.use(httpLimiter(limit))` before the routes.
 */
export function httpLimiter(limit: AdaptiveLimit, options: LimiterOptions = {}): Middleware {
  const door = createDoor(limit, options)
  return (req, res, next) =>
    door(req, res, undefined, next, ({ status, headers, body }) => {
      res.writeHead(status, headers).end(body)
    })
}

export interface FastifyLimiterOptions extends LimiterOptions {
  limit: AdaptiveLimit
}

/**
 * A fastify plugin: `fastify.register(fastifyLimiter, { limit, ...options })`. It applies to the
 * whole instance it is registered on (not encapsulated, like fastify-plugin), in `onRequest`, before
 * body parsing; register it after `fastifyShedder`. Refusals are counted under the route pattern
 * (`/users/:id`) unless `route` is given.
 */
export function fastifyLimiter(
  fastify: FastifyLike,
  options: FastifyLimiterOptions,
  done: (error?: Error) => void,
): void {
  const { limit, ...rest } = options ?? ({} as FastifyLimiterOptions)
  const door = createDoor(limit, rest)
  fastify.addHook('onRequest', (request, reply, next) => {
    door(request.raw, reply.raw, request.routeOptions?.url, next as (error?: unknown) => void, (r) => {
      reply.code(r.status).headers(r.headers).send(r.body)
    })
  })
  done()
}
// Registered without encapsulation (what fastify-plugin does), so the hook covers sibling routes.
Object.assign(fastifyLimiter, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@beamline/limit',
})
