import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  booleanOption,
  checkHandle,
  choiceOption,
  functionOption,
  InvalidHandleError,
  InvalidOptionError,
  integerOption,
  MAX_TIMER_MS,
  nameOption,
  numberOption,
  objectOption,
  optionsObject,
  timeoutOption,
  warnOnce,
} from '../src/index.js'

function assertInvalid(fn: () => unknown, option: string, pattern: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError)
    assert.equal(err.code, 'ERR_BEAMLINE_INVALID_OPTION')
    assert.equal(err.option, option)
    assert.match(err.message, pattern)
    return true
  })
}

test('integerOption accepts the range and names option and range when it refuses', () => {
  assert.equal(integerOption('max', 5, 1, 10), 5)
  assert.equal(integerOption('max', undefined, 1, 10, 7), 7)
  assertInvalid(() => integerOption('max', 0, 1, 10), 'max', /max: must be an integer from 1 to 10, got 0/)
  assertInvalid(() => integerOption('max', 1.5, 1, 10), 'max', /got 1.5/)
  assertInvalid(() => integerOption('max', '3', 1, 10), 'max', /got "3"/)
  assertInvalid(() => integerOption('max', Number.NaN, 1, 10), 'max', /got NaN/)
  assertInvalid(() => integerOption('n', -1, 0, Number.MAX_SAFE_INTEGER), 'n', /an integer ≥ 0/)
})

test('numberOption honours exclusive minimum and finiteness', () => {
  assert.equal(numberOption('windowMs', 0.5, { min: 0, exclusiveMin: true }), 0.5)
  assertInvalid(() => numberOption('windowMs', 0, { min: 0, exclusiveMin: true }), 'windowMs', /> 0/)
  assertInvalid(
    () => numberOption('ratio', Infinity, { min: 0, max: 1 }),
    'ratio',
    /≥ 0 and ≤ 1, got Infinity/,
  )
})

test('choiceOption and nameOption', () => {
  assert.equal(choiceOption('overflow', 'reject', ['reject', 'drop-oldest']), 'reject')
  assertInvalid(
    () => choiceOption('overflow', 'drop', ['reject', 'drop-oldest']),
    'overflow',
    /'reject', 'drop-oldest'/,
  )
  assert.equal(nameOption('name', 'db'), 'db')
  assertInvalid(() => nameOption('name', ''), 'name', /non-empty/)
  assertInvalid(() => nameOption('name', 'é'.repeat(101)), 'name', /200 UTF-8 bytes/)
  // Regression: lone surrogates passed, then came back from shared memory as U+FFFD.
  assertInvalid(() => nameOption('name', 'node-\ud800'), 'name', /lone surrogate/)
  assert.equal(nameOption('name', 'node-😀'), 'node-😀')
})

test('checkHandle refuses other kinds and other layout versions', () => {
  const h = { kind: 'beamline.x', version: 2 }
  assert.equal(checkHandle(h, 'beamline.x', 2), h)
  for (const bad of [null, 42, {}, { kind: 'beamline.y', version: 2 }, { kind: 'beamline.x', version: 1 }]) {
    assert.throws(
      () => checkHandle(bad, 'beamline.x', 2),
      (err: unknown) => {
        assert.ok(err instanceof InvalidHandleError)
        assert.equal(err.code, 'ERR_BEAMLINE_INVALID_HANDLE')
        return true
      },
    )
  }
})

test('warnOnce emits one process warning per key', async () => {
  const seen: Error[] = []
  const onWarning = (w: Error) => seen.push(w)
  process.on('warning', onWarning)
  warnOnce('test-key', 'exporter failed', new Error('boom'))
  warnOnce('test-key', 'exporter failed', new Error('boom again'))
  await new Promise((r) => setImmediate(r))
  process.off('warning', onWarning)
  assert.equal(seen.length, 1)
  assert.equal(seen[0]!.name, 'BeamlineWarning')
  assert.match(seen[0]!.message, /exporter failed: boom$/)
})

test('booleanOption, objectOption, optionsObject, timeoutOption and a function fallback name the option and what it accepts', () => {
  assert.equal(booleanOption('lifo', undefined, true), true)
  assert.equal(booleanOption('lifo', false, true), false)
  assert.throws(() => booleanOption('lifo', 'yes'), {
    code: 'ERR_BEAMLINE_INVALID_OPTION',
    message: 'lifo: must be a boolean (true or false), got "yes"',
  })
  assert.equal(objectOption('queue', undefined), undefined)
  const fallback = { a: 1 }
  assert.equal(objectOption('queue', undefined, fallback), fallback)
  assert.throws(() => objectOption('queue', [1]), { message: 'queue: must be an object, got object' })
  assert.throws(() => objectOption('queue', 5), { message: 'queue: must be an object, got 5' })
  assert.throws(() => optionsObject(undefined, 'with name and max'), {
    option: 'options',
    detail: 'must be an object with name and max, got undefined',
  })
  assert.equal(timeoutOption('timeoutMs', undefined), undefined)
  assert.equal(timeoutOption('timeoutMs', 0), 0)
  assert.throws(() => timeoutOption('timeoutMs', MAX_TIMER_MS + 1), {
    message: `timeoutMs: must be a finite number ≥ 0 and ≤ ${MAX_TIMER_MS}, got ${MAX_TIMER_MS + 1}`,
  })
  const now = () => 1
  assert.equal(functionOption('now', undefined, now), now)
  assert.throws(() => functionOption('now', 1, now), { message: 'now: must be a function, got 1' })
})
