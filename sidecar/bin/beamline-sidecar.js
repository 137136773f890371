#!/usr/bin/env node
// The package's bin: a committed file, so npm links it at install time even before the TypeScript
// build exists (npm skips a bin whose target is missing, and `npx beamline-sidecar` would then look
// for it on the registry).
import { existsSync } from 'node:fs'

const cli = new URL('../dist/src/cli.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write('beamline-sidecar: not built yet; run `npm run build` at the repository root\n')
  process.exit(1)
}
await import(cli.href)
