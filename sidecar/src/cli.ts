#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { HELP, resolveConfig } from './config.js'
import { ConfigError } from './errors.js'

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
  // Loaded here, not at the top: `top`, --help and configuration errors need none of its dependencies.
  const { startSidecar } = await import('./sidecar.js')
  let sidecar: Awaited<ReturnType<typeof startSidecar>>
  try {
    sidecar = await startSidecar(request.config)
  } catch (err) {
    process.stderr.write(`beamline-sidecar: cannot start: ${(err as Error).message}\n`)
    process.exit(1)
  }
  const stop = (signal: string) => {
    process.stderr.write(`beamline-sidecar: ${signal}, shutting down\n`)
    // The orchestrator's grace period is usually 5 s or more: leave by 4.5 s whatever happens.
    setTimeout(() => process.exit(0), 4500).unref()
    sidecar.close(4000).then(
      () => process.exit(0),
      () => process.exit(0),
    )
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
}

await main()
