import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defaultRoute, edgeOptions, InvalidOptionError, overloadResponse, pathOf } from '../src/index.js'

test('pathOf drops the query and fragment and reduces absolute-form targets', () => {
  assert.equal(pathOf('/a/b?x=1#f'), '/a/b')
  assert.equal(pathOf('http://host:8080/a?x'), '/a')
  assert.equal(pathOf('http://host'), '/')
  assert.equal(pathOf(undefined), '/')
})

test('defaultRoute keeps the first segment and hides ids', () => {
  assert.equal(defaultRoute('/users/42/posts?x=1'), '/users')
  assert.equal(defaultRoute('/'), '/')
  assert.equal(defaultRoute('/42'), '/:id')
  assert.equal(defaultRoute('/3f2504e0-4f89-11d3-9a0c-0305e82c3301/x'), '/:id')
  assert.equal(defaultRoute(`/${'a.'.repeat(50)}`), `/${'a.'.repeat(32)}`)
})

test('edgeOptions validates, exempts and labels alike for every guard', () => {
  const edge = edgeOptions<{ id: string }>({ exempt: ['/healthz', /^\/internal\//] })
  assert.equal(edge.retryAfterSeconds, 5)
  assert.ok(edge.isExempt('/healthz'))
  assert.ok(edge.isExempt('/internal/x'))
  assert.ok(!edge.isExempt('/healthz/x'))
  assert.equal(edge.routeOf({ id: 'a' }, '/users/1'), '/users')
  assert.equal(edge.routeOf({ id: 'a' }, '/users/1', '/users/:id'), '/users/:id')
  const custom = edgeOptions<{ id: string }>({ route: (r) => r.id })
  assert.equal(custom.routeOf({ id: 'mine' }, '/users/1', '/users/:id'), 'mine')
  assert.ok(edgeOptions({}).isExempt('/livez'))
  assert.ok(!edgeOptions({ exempt: [] }).isExempt('/livez'))
  for (const [option, bad] of [
    ['retryAfterSeconds', { retryAfterSeconds: -1 }],
    ['retryAfterSeconds', { retryAfterSeconds: 1.5 }],
    ['exempt', { exempt: '/healthz' }],
    ['exempt', { exempt: [1] }],
    ['route', { route: 'x' }],
  ] as const) {
    assert.throws(
      () => edgeOptions(bad as never),
      (e: unknown) => e instanceof InvalidOptionError && e.option === option,
    )
  }
})

test('overloadResponse is a 503 with Retry-After, no-store and an exact content-length', () => {
  const r = overloadResponse(7, { reason: 'limit', limit: 'http' })
  assert.equal(r.status, 503)
  assert.equal(r.headers['retry-after'], '7')
  assert.equal(r.headers['cache-control'], 'no-store')
  assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body))
  assert.deepEqual(JSON.parse(r.body), {
    error: 'overloaded',
    reason: 'limit',
    limit: 'http',
    retryAfterSeconds: 7,
  })
})
