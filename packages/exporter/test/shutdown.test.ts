/**
 * Shutdown and where the socket goes, in real child processes.
 *
 * Invariants checked: a service whose only handle is the exporter exits by itself once `close()`
 * resolves, even with a sidecar's keep-alive connection open (nothing left: the server, its
 * connections, the runtime sampler's timer, histogram and GC observer); its socket file is removed.
 * A user who cannot write /run/beamline gets its socket in `$XDG_RUNTIME_DIR/beamline`, else in
 * `<tmp>/beamline-<uid>` (owner-only; one made by someone else is refused), with a warning naming it.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Client } from 'undici'
import { SNAPSHOT_PATH, SOCKET_DIR } from '../src/index.js'

const INDEX = new URL('../src/index.js', import.meta.url).href
const dir = mkdtempSync(join(tmpdir(), 'beamline-exporter-shutdown-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** A service that is nothing but an exporter, closed on SIGTERM as the docs show. */
function service(listen: object, options: { uid?: number; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const script = `
    const { startExporter } = await import(${JSON.stringify(INDEX)})
    const exporter = await startExporter({ service: 'svc', listen: ${JSON.stringify(listen)} })
    process.once('SIGTERM', () => void exporter.close())
    process.stdout.write(exporter.url + '\\n')`
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
    env: { ...process.env, ...options.env },
    cwd: fileURLToPath(new URL('.', import.meta.url)),
  })
}

/** The URL the service prints, and everything it wrote to stderr; rejects if it exits first. */
async function started(child: ChildProcess): Promise<{ url: string; stderr: () => string }> {
  let out = ''
  let err = ''
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s
      if (out.includes('\n')) resolve(out.trim())
    })
    child.once('exit', (code) => reject(new Error(`service exited with ${code}: ${err}`)))
  })
  return { url, stderr: () => err }
}

describe('exporter shutdown', () => {
  for (const [what, listen] of [
    ['TCP', { port: 0 }],
    ['a Unix socket', { path: join(dir, 'svc.sock') }],
  ] as const) {
    it(`a service whose only handle is the exporter (${what}) exits once close() resolves`, async () => {
      const child = service(listen)
      const { url, stderr } = await started(child)
      const socketPath = url.startsWith('unix:') ? url.slice('unix:'.length) : undefined
      // A sidecar's keep-alive connection stays open between polls.
      const client = new Client(socketPath ? 'http://localhost' : url, {
        ...(socketPath ? { socketPath } : {}),
        keepAliveTimeout: 60_000,
      })
      for (let i = 0; i < 2; i++) {
        const res = await client.request({ path: SNAPSHOT_PATH, method: 'GET' })
        assert.equal(res.statusCode, 200)
        await res.body.text()
      }
      child.kill('SIGTERM')
      // No process.exit anywhere: the exit code 0 (not a signal) says the loop ran out of work.
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null]
      assert.deepEqual({ code, signal, stderr: stderr() }, { code: 0, signal: null, stderr: '' })
      if (socketPath) assert.equal(existsSync(socketPath), false, 'socket file removed')
      await client.destroy()
    })
  }
})

/**
 * The uid of a user who cannot write /run/beamline: nobody (65534) when the tests run as root, this
 * user otherwise; undefined (skip) when this user can write it.
 */
function nonRoot(t: TestContext): number | undefined {
  const uid = process.getuid!()
  if (uid === 0) {
    // nobody must reach Node and this checkout: not so in a clone inside a private (0700) directory.
    const probe = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `await import(${JSON.stringify(INDEX)})`],
      {
        uid: 65534,
        gid: 65534,
        cwd: '/',
        encoding: 'utf8',
      },
    )
    if (probe.status !== 0) {
      t.skip(
        `user nobody cannot run ${process.execPath} or read this checkout (${probe.error?.message ?? probe.stderr.trim().split('\n')[0]}): run from a world-readable path`,
      )
      return undefined
    }
    return 65534
  }
  try {
    accessSync(existsSync(SOCKET_DIR) ? SOCKET_DIR : '/run', constants.W_OK)
  } catch {
    return uid
  }
  t.skip(`this user can write ${SOCKET_DIR}: no fallback to test`)
  return undefined
}

/** A fresh directory the user `uid` owns. */
function ownedDir(name: string, uid: number, mode = 0o700): string {
  const path = join(dir, name)
  mkdirSync(path)
  chmodSync(path, mode) // not through mkdir, whose mode the umask narrows
  if (process.getuid!() === 0) {
    chmodSync(dir, 0o711) // nobody may pass through the test's own directory
    chownSync(path, uid, uid)
  }
  return path
}

describe('a development socket path when /run/beamline cannot be written', () => {
  it('uses $XDG_RUNTIME_DIR/beamline, and says so', async (t) => {
    const uid = nonRoot(t)
    if (uid === undefined) return
    const runtime = ownedDir('xdg', uid)
    const child = service({ path: `${SOCKET_DIR}/my-api.sock` }, { uid, env: { XDG_RUNTIME_DIR: runtime } })
    const { url, stderr } = await started(child)
    const expected = join(runtime, 'beamline', 'my-api.sock')
    assert.equal(url, `unix:${expected}`)
    assert.equal(statSync(expected).mode & 0o777, 0o600)
    assert.match(
      stderr(),
      new RegExp(
        `BeamlineWarning: beamline exporter: cannot write /run/beamline \\(EACCES: not root\\?\\); listening on ${expected} instead, a development location: run the sidecar with --discover-dir ${join(runtime, 'beamline')}`,
      ),
    )
    child.kill('SIGTERM')
    assert.deepEqual(await once(child, 'exit'), [0, null])
  })

  it('else uses <tmp>/beamline-<uid>, owner-only, and refuses one made by someone else', async (t) => {
    const uid = nonRoot(t)
    if (uid === undefined) return
    const tmp = ownedDir('tmp', uid)
    const env = { XDG_RUNTIME_DIR: '', TMPDIR: tmp }
    const child = service({ path: `${SOCKET_DIR}/my-api.sock` }, { uid, env })
    const { url } = await started(child)
    const devDir = join(tmp, `beamline-${uid}`)
    assert.equal(url, `unix:${join(devDir, 'my-api.sock')}`)
    assert.equal(statSync(devDir).mode & 0o777, 0o700)
    child.kill('SIGTERM')
    assert.deepEqual(await once(child, 'exit'), [0, null])

    if (process.getuid!() !== 0) return // only root can make one that another user owns
    const shared = ownedDir('shared-tmp', uid, 0o777)
    mkdirSync(join(shared, `beamline-${uid}`))
    chmodSync(join(shared, `beamline-${uid}`), 0o777) // root's, and world-writable
    const refused = service({ path: `${SOCKET_DIR}/my-api.sock` }, { uid, env: { ...env, TMPDIR: shared } })
    await assert.rejects(started(refused), /is not a directory of this user's that only it can write/)
  })
})
