/**
 * What every beamline guard at the HTTP door shares (`httpShedder` in @beamline/pressure,
 * `httpLimiter` in @beamline/limit), so that the two behave as one: the same exempt paths, the same
 * route labels for refusal counts, and the same 503 with `Retry-After`.
 *
 * Route labels: the first path segment, never the raw URL, so that ids in paths do not become label
 * values. `/users/42/posts?x=1` → `/users`; `/` → `/`; a first segment that looks like an id (all
 * digits, a UUID or a long hex or base64 token) → `/:id`. Segments are cut to 64 characters.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { InvalidOptionError } from './errors.js'
import { functionOption, integerOption } from './options.js'

const ID_LIKE =
  /^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|[A-Za-z0-9_-]{24,})$/i

/** The path of a request target: no query, no fragment; absolute-form targets reduced to their path. */
export function pathOf(url: string | undefined): string {
  let target = url ?? '/'
  if (!target.startsWith('/')) {
    const start = target.indexOf('/', target.indexOf('//') + 2)
    target = start < 0 ? '/' : target.slice(start)
  }
  const end = target.search(/[?#]/)
  return end < 0 ? target : target.slice(0, end)
}

export function defaultRoute(url: string | undefined): string {
  const path = pathOf(url)
  const end = path.indexOf('/', 1)
  const segment = path.slice(1, end < 0 ? undefined : end)
  if (segment === '') return '/'
  if (ID_LIKE.test(segment)) return '/:id'
  return `/${segment.slice(0, 64)}`
}

/** The options every door guard takes, as the user writes them. */
export interface EdgeOptions<R> {
  /** Seconds sent in `Retry-After` with each 503. Integer 0–86 400. Default 5. */
  retryAfterSeconds?: number
  /**
   * Paths never refused, compared with the request path (no query): a string matches exactly, a
   * RegExp is tested. Default `['/healthz', '/livez']`; pass `[]` to exempt nothing.
   */
  exempt?: readonly (string | RegExp)[]
  /**
   * Label under which a refusal is counted. Default: the first path segment (`/users/42` → `/users`,
   * id-like segments → `/:id`), or the route pattern in fastify. Must not return raw URLs: label sets
   * are bounded (then 'other') but ids would still fill that budget.
   */
  route?: (req: R) => string
}

/** The same options, validated. */
export interface Edge<R> {
  readonly retryAfterSeconds: number
  /** True for a path in `exempt`. */
  isExempt(path: string): boolean
  /** The refusal label of `req`: `route(req)`, else the route pattern the framework gave, else `defaultRoute`. */
  routeOf(req: R, url: string | undefined, pattern?: string): string
}

export function edgeOptions<R>(options: EdgeOptions<R>): Edge<R> {
  const retryAfterSeconds = integerOption('retryAfterSeconds', options.retryAfterSeconds, 0, 86_400, 5)
  const exempt = options.exempt ?? ['/healthz', '/livez']
  if (!Array.isArray(exempt) || !exempt.every((e) => typeof e === 'string' || e instanceof RegExp)) {
    throw new InvalidOptionError('exempt', 'must be an array of paths (strings) or RegExps')
  }
  const exact = new Set(exempt.filter((e): e is string => typeof e === 'string'))
  const patterns = exempt.filter((e): e is RegExp => e instanceof RegExp)
  const route = functionOption<(req: R) => string>('route', options.route)
  return {
    retryAfterSeconds,
    isExempt: (path) => exact.has(path) || patterns.some((p) => p.test(path)),
    routeOf: (req, url, pattern) => (route ? String(route(req)) : (pattern ?? defaultRoute(url))),
  }
}

/**
 * The 503 of a refusal: `Retry-After`, `no-store`, and a small JSON body with `error: 'overloaded'`,
 * the guard's own fields (level, reason, limit…) and `retryAfterSeconds`.
 */
export function overloadResponse(
  retryAfterSeconds: number,
  fields: Record<string, string | number>,
): { status: 503; headers: Record<string, string>; body: string } {
  const body = JSON.stringify({ error: 'overloaded', ...fields, retryAfterSeconds })
  return {
    status: 503,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'retry-after': String(retryAfterSeconds),
      'cache-control': 'no-store',
    },
    body,
  }
}

/**
 * What the doors' fastify plugins need of fastify, so that fastify stays a dev dependency of every
 * package: one `onRequest` hook, the raw request and response, the reply's status, headers and send.
 */
export interface FastifyLike {
  addHook(
    name: 'onRequest',
    hook: (
      request: { raw: IncomingMessage; routeOptions?: { url?: string } },
      reply: { raw: ServerResponse; code(status: number): FastifyReplyLike },
      done: (error?: Error) => void,
    ) => void,
  ): unknown
}
export interface FastifyReplyLike {
  headers(values: Record<string, string>): FastifyReplyLike
  send(body: string): unknown
}
