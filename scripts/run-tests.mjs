#!/usr/bin/env node
// Runs the compiled tests with node's test runner.
//   node scripts/run-tests.mjs            every package's tests, then test/ (cross-package, end to end)
//   node scripts/run-tests.mjs --unit     only packages/*/ (what .ci/run also runs on Node 22)
//   node scripts/run-tests.mjs ring mailbox   only the packages (or top-level folders) named
// Test files are the compiled `dist/test/**/*.test.js` of each workspace; `npm test` builds first.
import { spawnSync } from 'node:child_process'
import { existsSync, globSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const unitOnly = args.includes('--unit')
const names = args.filter((a) => !a.startsWith('--'))

const patterns = unitOnly
  ? ['packages/*/dist/test/**/*.test.js']
  : [
      'packages/*/dist/test/**/*.test.js',
      'sidecar/dist/test/**/*.test.js',
      'grafana/dist/test/**/*.test.js',
      'test/dist/**/*.test.js',
    ]

// tsc -b never deletes the output of a removed source: run only tests whose .ts still exists.
const sourceOf = (file) => file.replace(/(^|\/)dist\//, '$1').replace(/\.js$/, '.ts')
let files = patterns
  .flatMap((p) => globSync(p, { cwd: root }))
  .filter((f) => existsSync(join(root, sourceOf(f))))
  .sort()
if (names.length > 0) {
  files = files.filter((f) => names.some((n) => f.startsWith(`packages/${n}/`) || f.startsWith(`${n}/`)))
}
if (files.length === 0) {
  console.error(
    `run-tests: no compiled test files matched (${names.join(' ') || patterns.join(' ')}); run \`npm run build\` first`,
  )
  process.exit(1)
}
console.log(`run-tests: ${files.length} files on Node ${process.version}`)
const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', ...files.map((f) => join(root, f))],
  {
    stdio: 'inherit',
    cwd: root,
  },
)
if (result.error) throw result.error
process.exit(result.status ?? 1)
