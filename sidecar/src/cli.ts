#!/usr/bin/env node
// First: on an unsupported Node, stops with one clear line before any other module is evaluated.
import '@beamline/core'
import { readFileSync } from 'node:fs'
import { ConfigError } from './errors.js'

/** What shutdown needs of a started sidecar. */
interface Running {
  close(graceMs: number): Promise<void>
}

/** Exit codes: 0 clean shutdown, 1 runtime failure, 2 configuration error. */
async function main(): Promise<void> {
  if (process.argv[2] === 'top') {
    const { runTop } = await import('./top.js')
    try {
      process.exit(await runTop(process.argv.slice(3)))
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      process.stderr.write(`beamline-sidecar top: ${err.message}\n`)
      process.exit(2)
    }
  }
  // Loaded here, not at the top, so that top and the signal handlers below never wait for ajv.
  const { HELP, resolveConfig } = await import('./config.js')
  let request: ReturnType<typeof resolveConfig>
  try {
    request = resolveConfig(process.argv.slice(2), process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`beamline-sidecar: configuration error: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  if (request.kind === 'help') {
    process.stdout.write(HELP)
    return
  }
  if (request.kind === 'version') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    process.stdout.write(`${pkg.version}\n`)
    return
  }
  let sidecar: Running | undefined
  let stopping = false
  const exit = () => process.exit(0)
  const close = (running: Running) => running.close(4000).then(exit, exit)
  // Installed before loading and starting, so a SIGTERM during startup is still a clean exit 0.
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    process.stderr.write(`beamline-sidecar: ${signal}, shutting down\n`)
    // The orchestrator's grace period is usually 5 s or more: leave by 4.5 s whatever happens.
    setTimeout(exit, 4500).unref()
    if (sidecar) close(sidecar)
    // else still starting: closed as soon as it has started, below
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
  process.stderr.write('beamline-sidecar: starting\n')
  // Loaded here, not at the top: `top`, --help and configuration errors need none of its dependencies.
  const { startSidecar } = await import('./sidecar.js')
  try {
    sidecar = await startSidecar(request.config)
  } catch (err) {
    process.stderr.write(`beamline-sidecar: cannot start: ${(err as Error).message}\n`)
    process.exit(1)
  }
  if (stopping) close(sidecar)
}

await main()
