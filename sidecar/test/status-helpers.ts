import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type SidecarProcess, startSidecarProcess } from './helpers.js'

/**
 * A system tool from a Debian package (`chromium`, `tmux`): skips the test when missing on a dev
 * machine, fails under CI=true (where .ci/run installs it).
 */
export function requireTool(t: TestContext, path: string, debianPackage: string): boolean {
  if (existsSync(path)) return true
  const message = `${path} is missing: install the Debian package \`${debianPackage}\` (apt-get install ${debianPackage})`
  if (process.env['CI'] === 'true') throw new Error(message)
  t.skip(message)
  return false
}

export interface StatusRig {
  readonly service: ChildProcess
  readonly sidecar: SidecarProcess
  /** The Unix socket of a target nobody listens on: always down. */
  readonly deadTarget: string
  close(): Promise<void>
}

/**
 * The fixture service (test/fixtures/status-service.js) on a Unix socket, and the sidecar's command line
 * polling it every 500 ms together with a target that is down.
 */
export async function startStatusRig(): Promise<StatusRig> {
  const dir = mkdtempSync(join(tmpdir(), 'beamline-status-'))
  const service = fork(
    fileURLToPath(new URL('./fixtures/status-service.js', import.meta.url)),
    [join(dir, 'chat.sock')],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  )
  const [{ url }] = (await once(service, 'message')) as [{ url: string }]
  const deadTarget = `unix:${join(dir, 'gone.sock')}`
  let sidecar: SidecarProcess
  try {
    sidecar = await startSidecarProcess(['--target', url, '--target', deadTarget, '--interval-ms', '500'])
  } catch (err) {
    service.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return {
    service,
    sidecar,
    deadTarget,
    async close() {
      for (const child of [sidecar.child, service]) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM')
          await once(child, 'exit')
        }
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
