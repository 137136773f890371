/**
 * The default route label of a request: its first path segment, never the raw URL, so that ids in
 * paths do not become label values. `/users/42/posts?x=1` → `/users`; `/` → `/`; a first segment
 * that looks like an id (all digits, a UUID or a long hex or base64 token) → `/:id`. Segments are cut
 * to 64 characters. Pass `route(req)` to httpShedder for something finer (e.g. your router's pattern).
 */
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
