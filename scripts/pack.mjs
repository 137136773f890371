#!/usr/bin/env node
// `npm run pack [-- --out DIR]`: builds once, then writes an installable tarball of every package
// under packages/ and of the sidecar into DIR (default dist/pack/, gitignored), and prints them.
// Install them in an app with `npm install DIR/*.tgz` until the packages are on the registry.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const outAt = process.argv.indexOf('--out')
const out = resolve(outAt > 0 ? process.argv[outAt + 1] : join(root, 'dist/pack'))
const workspaces = [
  ...readdirSync(join(root, 'packages'))
    .filter((p) => existsSync(join(root, 'packages', p, 'package.json')))
    .map((p) => `packages/${p}`),
  'sidecar',
]
mkdirSync(out, { recursive: true })
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], {
  cwd: root,
  stdio: 'inherit',
})
// --ignore-scripts: each package's prepack would build again, already done above for all at once.
const packed = JSON.parse(
  execFileSync(
    'npm',
    [
      'pack',
      '--json',
      '--ignore-scripts',
      '--pack-destination',
      out,
      ...workspaces.flatMap((w) => ['-w', w]),
    ],
    { cwd: root, encoding: 'utf8' },
  ),
)
for (const p of packed) console.log(`${join(out, p.filename)}  (${p.entryCount} files, ${p.size} B)`)
