/** Child processes as the end-to-end tests run them: free ports, a bounded stop, waiting for a condition. */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

/** A TCP port free on 127.0.0.1 now (for servers that cannot be told to pick one, like Prometheus). */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the child has exited. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  const exited = once(child, 'exit').then(() => undefined)
  child.kill('SIGTERM')
  const kill = setTimeout(() => child.kill('SIGKILL'), 5_000)
  return exited.finally(() => clearTimeout(kill))
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The sidecar's command line, `node …/sidecar/dist/src/cli.js`. */
export const SIDECAR_CLI = fileURLToPath(new URL('./cli.js', import.meta.resolve('@beamline/sidecar')))

export interface SidecarProcess {
  child: ChildProcess
  /** `http://127.0.0.1:<port>`, from its startup line. */
  url: string
  stderr: () => string
}

/** Runs the real sidecar command line on a free loopback port and reads its URL from the startup line. */
export async function startSidecarProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<SidecarProcess> {
  const child = spawn(process.execPath, [SIDECAR_CLI, '--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  })
  let err = ''
  child.stderr!.setEncoding('utf8')
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: string) => {
      err += chunk
      const m = /serving (http:\/\/[^/\s]+)\/metrics/.exec(err)
      if (m) resolve(m[1]!)
    })
    child.once('exit', (code) => reject(new Error(`sidecar exited with ${code}: ${err}`)))
  })
  return { child, url, stderr: () => err }
}
