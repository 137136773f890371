/**
 * Two copies of @beamline/core in one process (one nested under a package that pinned another version):
 * `instanceof` on a class of one copy accepts an error thrown by the same class of the other copy, and
 * only that class and its base classes. The second copy is this build's `dist/src`, copied elsewhere so
 * that Node evaluates it as a distinct module graph, as npm's nested `node_modules` would.
 */
import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import * as one from '../src/index.js'

const copyDir = mkdtempSync(join(tmpdir(), 'beamline-core-copy-'))
after(() => rmSync(copyDir, { recursive: true, force: true }))
cpSync(fileURLToPath(new URL('../src/', import.meta.url)), join(copyDir, 'src'), { recursive: true })
writeFileSync(join(copyDir, 'package.json'), '{ "type": "module" }\n')
const other: typeof one = await import(pathToFileURL(join(copyDir, 'src/index.js')).href)

test('the second copy is a distinct module: its classes are other objects', () => {
  assert.notEqual(other.BeamlineError, one.BeamlineError)
  assert.notEqual(other.InvalidOptionError, one.InvalidOptionError)
})

test("an error of the other copy is an instance of this copy's same class and its bases", () => {
  const err = new other.InvalidOptionError('max', 'must be an integer')
  assert.ok(err instanceof one.InvalidOptionError)
  assert.ok(err instanceof one.BeamlineError)
  assert.ok(err instanceof Error)
  assert.ok(!(err instanceof one.InvalidHandleError))
  assert.ok(!(err instanceof one.ReadOnlyError))
  // and the other way round
  assert.ok(new one.ReadOnlyError('read-only view') instanceof other.ReadOnlyError)
  assert.ok(!(new one.ReadOnlyError('read-only view') instanceof other.InvalidOptionError))
})

test("a package's subclass defined over each copy is recognised across them, by its name", () => {
  // What @beamline/semaphore does over whichever copy of core it resolved.
  const fullOver = (core: typeof one) =>
    class SemaphoreFullError extends core.BeamlineError {
      constructor() {
        super('ERR_BEAMLINE_SEMAPHORE_FULL', 'full')
      }
    }
  const FullOne = fullOver(one)
  const FullOther = fullOver(other)
  class SemaphoreTimeoutError extends other.BeamlineError {
    constructor() {
      super('ERR_BEAMLINE_SEMAPHORE_TIMEOUT', 'timed out')
    }
  }
  assert.ok(new FullOther() instanceof FullOne)
  assert.ok(new FullOne() instanceof FullOther)
  assert.ok(new FullOther() instanceof one.BeamlineError)
  assert.ok(!(new SemaphoreTimeoutError() instanceof FullOne))
  assert.ok(!(new FullOther() instanceof one.InvalidOptionError))
})

test('only beamline errors are accepted across copies: a look-alike is not', () => {
  const lookAlike = Object.assign(new Error('x'), {
    name: 'InvalidOptionError',
    code: 'ERR_BEAMLINE_INVALID_OPTION',
  })
  assert.ok(!(lookAlike instanceof one.InvalidOptionError))
  assert.ok(!(lookAlike instanceof one.BeamlineError))
  for (const v of [null, undefined, 0, 'InvalidOptionError', {}]) assert.ok(!(v instanceof one.BeamlineError))
})

test('the class list is not enumerable: it stays out of JSON, spreads and util.inspect', () => {
  const err = new one.InvalidOptionError('max', 'must be an integer')
  assert.deepEqual(Object.keys(err).sort(), ['code', 'detail', 'name', 'option'])
  assert.equal(
    JSON.stringify({ ...err }),
    '{"code":"ERR_BEAMLINE_INVALID_OPTION","name":"InvalidOptionError","option":"max","detail":"must be an integer"}',
  )
})
