#!/usr/bin/env node
// Runs every compiled benchmark (`dist/bench/*.bench.js` of each workspace) one after the other,
// each in its own process so one package's JIT state and heap never colour another's numbers.
//   node scripts/run-benches.mjs              all
//   node scripts/run-benches.mjs semaphore    only the packages named
import { spawnSync } from 'node:child_process'
import { globSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const names = process.argv.slice(2)
let files = ['packages/*/dist/bench/*.bench.js', 'sidecar/dist/bench/*.bench.js', 'bench/dist/*.bench.js']
  .flatMap((p) => globSync(p, { cwd: root }))
  .sort()
if (names.length > 0)
  files = files.filter((f) => names.some((n) => f.startsWith(`packages/${n}/`) || f.startsWith(`${n}/`)))
let failed = 0
for (const file of files) {
  console.log(`\n=== ${file} (Node ${process.version})`)
  const r = spawnSync(process.execPath, ['--expose-gc', join(root, file)], { stdio: 'inherit', cwd: root })
  if (r.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
