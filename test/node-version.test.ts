/**
 * On a Node older than 22.12 every entry point stops with one line and exit code 2, before any other
 * module is evaluated (without the check, the sidecar crashed inside undici: `reading 'bind'`).
 * Run with a real old Node: the machine's own `node` (20 here; the project's scripts use the `node`
 * package's 24). Skipped, saying so, where no such binary is installed.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { unsupportedNode } from '@beamline/core'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** The first `node` on the machine whose version beamline refuses, with that version. */
function oldNode(): { bin: string; version: string } | undefined {
  const which = spawnSync('which', ['-a', 'node'], { encoding: 'utf8' }).stdout ?? ''
  const candidates = ['/usr/local/bin/node', '/usr/bin/node', ...which.split('\n')].filter(
    (p) => p !== '' && existsSync(p),
  )
  for (const bin of new Set(candidates)) {
    const version = spawnSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout?.trim()
    if (version && unsupportedNode(version)) return { bin, version }
  }
  return undefined
}

const old = oldNode()
const skip = old
  ? false
  : 'no Node older than 22.12 on this machine (looked at /usr/local/bin, /usr/bin, PATH)'

/** Every published package, so that a new one cannot be left out of the check. */
const PACKAGES = readdirSync(`${root}packages`).filter((p) => existsSync(`${root}packages/${p}/package.json`))

const ENTRY_POINTS: ReadonlyArray<readonly [what: string, args: readonly string[]]> = [
  ['the sidecar bin', ['sidecar/bin/beamline-sidecar.js', '--target', 'http://127.0.0.1:9']],
  ['the sidecar CLI', ['sidecar/dist/src/cli.js', '--target', 'http://127.0.0.1:9']],
  ['beamline-sidecar top', ['sidecar/dist/src/cli.js', 'top', '--url', 'http://127.0.0.1:9']],
  ['the demo', ['examples/chat-service/dist/src/demo.js', '--duration', '10']],
  ['the chat service', ['examples/chat-service/dist/src/main.js']],
  ...[...PACKAGES, 'sidecar'].map(
    (p) =>
      [`import '@beamline/${p}'`, ['--input-type=module', '-e', `await import('@beamline/${p}')`]] as const,
  ),
  ["require('@beamline/undici')", ['-e', "require('@beamline/undici')"]],
]

test('every entry point refuses an old Node with one line and exit code 2', { skip }, () => {
  const { bin, version } = old!
  const line = `beamline needs Node ≥ 22.12 (this is ${version})\n`
  for (const [what, args] of ENTRY_POINTS) {
    const r = spawnSync(bin, [...args], { cwd: root, encoding: 'utf8', timeout: 20_000 })
    assert.deepEqual(
      { status: r.status, stderr: r.stderr, stdout: r.stdout },
      { status: 2, stderr: line, stdout: '' },
      `${what} on Node ${version}`,
    )
  }
})

test('in a worker thread the check ends that thread with code 2 and the same line', { skip }, () => {
  const { bin, version } = old!
  const main = `
    const { Worker } = require('node:worker_threads')
    const w = new Worker("import('@beamline/mailbox').then(() => console.log('evaluated'))", { eval: true })
    w.on('exit', (code) => console.log('worker exit ' + code))
    w.on('error', (err) => console.log('worker error ' + err.message))`
  const r = spawnSync(bin, ['-e', main], { cwd: root, encoding: 'utf8', timeout: 20_000 })
  assert.deepEqual(
    { status: r.status, stderr: r.stderr, stdout: r.stdout },
    { status: 0, stderr: `beamline needs Node ≥ 22.12 (this is ${version})\n`, stdout: 'worker exit 2\n' },
  )
})
