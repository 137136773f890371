/**
 * docs/getting-started.md tested as written, from outside the repository, as a new user would take it
 * (issue 20): its install block runs `npm run pack` here and installs the tarballs into an app in the
 * OS temp dir; every code block goes into the file its first line names; `tsc --strict` checks them
 * against the installed packages (the types the tarballs ship); each server variant (node:http,
 * express, fastify) then runs with the installed `beamline-sidecar` polling its exporter, serves a
 * real client, and on SIGTERM fails readiness first and exits 0 within 5 s.
 *
 * Invariants: no block of the page is left out (each names its file or says `not tested: <why>`);
 * the blocks are used as written, with only the substitutions the page announces (ports, socket
 * path, the clone of the repository); third-party packages come at the versions of the repository's
 * lockfile, so that the npm cache its own install filled serves them (`--prefer-offline`).
 * Skipped, saying so, only where `npm` cannot run; never under CI=true.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { eventually, freePort } from '@beamline/test-kit'

const root = fileURLToPath(new URL('../../', import.meta.url))
const GUIDE = 'docs/getting-started.md'
/** The server variants of step 2, one folder each; the issue asks for all three. */
const VARIANTS = ['express', 'fastify', 'node-http'] as const
/** Shell blocks the test runs, each in its own way below; any other named shell block fails. */
const SHELL_RUN = ['install.sh', 'sidecar.sh']
/** What the snippets import besides beamline, in the app's package.json as an existing service has them. */
const APP_DEPENDENCIES = ['express', 'fastify', 'undici']
const APP_DEV_DEPENDENCIES = ['typescript', '@types/node', '@types/express']
const SERVICE = 'my-api'
/** Where each variant answers its placeholder route with 200. */
const ROUTE: Record<(typeof VARIANTS)[number], { method: string; path: string }> = {
  express: { method: 'POST', path: '/api/messages' },
  fastify: { method: 'GET', path: '/users/1' },
  'node-http': { method: 'GET', path: '/' },
}

interface Block {
  /** Where the block starts, as `file:line`, for messages. */
  at: string
  lang: string
  /** The files its first line names (one block may serve two variants), empty when not tested. */
  names: string[]
  notTested?: string
  text: string
}

/** `// a/b.ts`, `// a.ts and b/a.ts: why`, `# x.sh, where`: the files a first line names. */
const NAMED =
  /^(?:\/\/|#) ((?:[\w.-]+\/)?[\w.-]+\.(?:ts|sh)(?: and (?:[\w.-]+\/)?[\w.-]+\.(?:ts|sh))*)(?:[:,] .+)?$/
const NOT_TESTED = /^(?:\/\/|#) not tested: (.+)$/

function blocksOf(file: string, only?: string): Block[] {
  const md = readFileSync(join(root, file), 'utf8')
  const blocks: Block[] = []
  for (const m of md.matchAll(/^```(\S*)[^\n]*\n([\s\S]*?)^```$/gm)) {
    const lang = m[1]!
    if (only !== undefined && lang !== only) continue
    const text = m[2]!
    const first = text.split('\n', 1)[0]!
    const at = `${file}:${md.slice(0, m.index).split('\n').length}`
    const notTested = NOT_TESTED.exec(first)?.[1]
    const named = notTested === undefined ? NAMED.exec(first)?.[1] : undefined
    blocks.push({ at, lang, names: named?.split(' and ') ?? [], notTested, text })
  }
  return blocks
}

const guide = blocksOf(GUIDE)
/** The README's code of a service (its shell blocks are this repository's own commands, run by CI). */
const readme = blocksOf('README.md', 'ts')

/** `npm` as the snippets' user runs it: on the repository's Node (24), without `npm test`'s npm_* settings. */
const npmEnv: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))),
  PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
  npm_config_prefer_offline: 'true',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
}

function npmMissing(): string | false {
  const r = spawnSync('npm', ['--version'], { env: npmEnv, encoding: 'utf8' })
  if (r.status === 0) return false
  const message = `npm cannot run here (${r.error?.message ?? r.stderr}): the getting-started test installs the tarballs with it`
  if (process.env.CI === 'true') throw new Error(message)
  return message
}
const skip = npmMissing()

const work = mkdtempSync(join(tmpdir(), 'beamline-getting-started-'))
const app = join(work, 'my-service')
const children: ChildProcess[] = []
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) killGroup(c, 'SIGKILL')
  rmSync(work, { recursive: true, force: true })
})

/** The child and, when it leads a process group (bash, npx), everything it started. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal)
  } catch {
    child.kill(signal)
  }
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, env: npmEnv, encoding: 'utf8', timeout: 240_000 })
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`
  assert.equal(
    r.status,
    0,
    `${cmd} ${args.join(' ')} in ${cwd} failed (${r.error?.message ?? r.signal ?? r.status}):\n${out}`,
  )
  return out
}

/** The version the repository's lockfile installed, so that the npm cache has it. */
function lockedVersion(name: string): string {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string }>
  }
  const version = lock.packages[`node_modules/${name}`]?.version
  assert.ok(version, `${name} is not in package-lock.json: add it to the root devDependencies`)
  return version
}

/** Replaces every `from`, failing when the block no longer contains it (the page changed under the test). */
function substitute(text: string, from: string, to: string, where: string): string {
  assert.ok(text.includes(from), `${where} no longer contains ${from}, which the test substitutes`)
  return text.replaceAll(from, to)
}

function named(blocks: Block[]): Array<{ name: string; block: Block }> {
  return blocks.flatMap((block) => block.names.map((name) => ({ name, block })))
}

/** The files a set of blocks imports from each other (`./x.js`), transitively, starting from `start`. */
function importedBy(start: string[], files: Map<string, string>): Set<string> {
  const seen = new Set<string>()
  const visit = (name: string) => {
    if (seen.has(name) || !files.has(name)) return
    seen.add(name)
    for (const m of files.get(name)!.matchAll(/from '\.\/([\w.-]+)\.js'/g)) visit(`${m[1]}.ts`)
  }
  for (const s of start) visit(s)
  return seen
}

test('every code block of getting-started and the README service snippet names its file or says why it is not tested', () => {
  const problems: string[] = []
  for (const b of [...guide, ...readme]) {
    if (b.notTested !== undefined) continue
    if (b.names.length === 0)
      problems.push(`${b.at}: the first line names no file and says no "not tested: <why>"`)
    else if (b.lang !== 'ts' && b.lang !== 'sh')
      problems.push(`${b.at}: a \`${b.lang}\` block, neither ts nor sh`)
    for (const name of b.names) {
      const ext = name.endsWith('.sh') ? 'sh' : 'ts'
      if (ext !== b.lang) problems.push(`${b.at}: ${name} in a \`${b.lang}\` block`)
      if (ext === 'sh' && !SHELL_RUN.includes(name))
        problems.push(`${b.at}: ${name}, a shell block the test does not run`)
      const folder = name.includes('/') ? name.split('/')[0]! : undefined
      if (folder && !(VARIANTS as readonly string[]).includes(folder))
        problems.push(`${b.at}: ${name} is in no variant of ${VARIANTS.join(', ')}`)
    }
  }
  const names = named(guide).map((n) => n.name)
  const twice = names.filter((n, i) => names.indexOf(n) !== i)
  if (twice.length > 0) problems.push(`${GUIDE}: named by two blocks: ${twice.join(', ')}`)
  for (const v of VARIANTS)
    for (const f of ['server.ts', 'main.ts'])
      if (!names.includes(`${v}/${f}`)) problems.push(`${GUIDE}: no ${v}/${f}`)
  for (const f of SHELL_RUN) if (!names.includes(f)) problems.push(`${GUIDE}: no ${f}`)
  assert.equal(readme.length, 1, 'the README has one service snippet')
  assert.deepEqual(problems, [])
})

/** One folder per variant (its own files plus every shared one), and the README's snippet with what it imports. */
function writeApp(ports: Record<string, number>): void {
  const shared = new Map(
    named(guide)
      .filter((n) => !n.name.includes('/'))
      .map((n) => [n.name, n.block.text]),
  )
  for (const v of VARIANTS) {
    const files = new Map(shared)
    for (const { name, block } of named(guide))
      if (name.startsWith(`${v}/`)) files.set(name.slice(v.length + 1), block.text)
    mkdirSync(join(app, v), { recursive: true })
    const socket = join(work, `${v}.sock`)
    for (const [name, text] of files) {
      if (name === 'install.sh') continue
      let out = text
      if (name === 'exporter.ts' || name === 'sidecar.sh')
        out = substitute(out, '/run/beamline/my-api.sock', socket, `${GUIDE} ${name}`)
      if (name === 'sidecar.sh') out = substitute(out, '127.0.0.1:9464', '127.0.0.1:0', `${GUIDE} ${name}`)
      if (name === 'server.ts') out = substitute(out, '8080', String(ports[v]), `${GUIDE} ${v}/${name}`)
      writeFileSync(join(app, v, name), out)
    }
  }
  const snippet = new Map(named(readme).map((n) => [n.name, n.block.text]))
  const withImports = new Map([...shared, ...snippet])
  mkdirSync(join(app, 'readme'), { recursive: true })
  for (const name of importedBy([...snippet.keys()], withImports))
    writeFileSync(join(app, 'readme', name), withImports.get(name)!)
}

const ports: Record<string, number> = {}
let installed = false

const INSTALL_TEST =
  'the install block as written: npm run pack, then the tarballs installed in an app outside the repository'

test(INSTALL_TEST, { skip }, async () => {
  for (const v of VARIANTS) ports[v] = await freePort()
  mkdirSync(app)
  const versions = (names: string[]) => Object.fromEntries(names.map((n) => [n, lockedVersion(n)]))
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'my-service',
      private: true,
      type: 'module',
      dependencies: versions(APP_DEPENDENCIES),
      devDependencies: versions(APP_DEV_DEPENDENCIES),
    }),
  )
  // The block's placeholder line clones and installs this repository: the test runs in one.
  symlinkSync(root, join(work, 'beamline'))
  const install = named(guide).find((n) => n.name === 'install.sh')!.block.text
  const script = install.replace(/^# placeholder: .*\n.*\n/m, '')
  assert.notEqual(script, install, `${GUIDE} install.sh: the clone is no longer a placeholder line`)
  writeFileSync(join(work, 'install.sh'), script)
  const out = run('bash', ['-e', 'install.sh'], work)
  // Extracted from the tarballs, not linked to the workspaces: their shipped files are what runs.
  for (const p of ['core', 'exporter', 'mailbox', 'pressure', 'semaphore', 'undici', 'sidecar']) {
    const dir = join(app, 'node_modules/@beamline', p)
    assert.ok(existsSync(join(dir, 'package.json')), `@beamline/${p} installed:\n${out}`)
    assert.ok(!lstatSync(dir).isSymbolicLink(), `@beamline/${p} is a copy, not a link`)
  }
  assert.ok(existsSync(join(app, 'node_modules/.bin/beamline-sidecar')), 'the sidecar bin installed')
  writeApp(ports)
  installed = true
})

const COMPILE_TEST =
  "regression: getting-started snippet 6 did not compile (Cannot find name 'db'): every block type-checks with tsc --strict against the installed packages"

test(COMPILE_TEST, { skip }, () => {
  assert.ok(installed, 'the install test passed')
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        target: 'es2023',
        types: ['node'],
        rootDir: '.',
        outDir: 'dist',
        noEmitOnError: true,
      },
      include: [...VARIANTS, 'readme'],
    }),
  )
  // One pass: the strict check, then (only if it found nothing) the JS the variants run.
  run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app)
  for (const v of VARIANTS) assert.ok(existsSync(join(app, 'dist', v, 'main.js')), `${v}/main.js compiled`)
})

/** Output of a child, kept for failure messages. */
function output(child: ChildProcess): () => string {
  let text = ''
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (text += s))
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (text += s))
  return () => text
}

/** SIGTERM to the child's process group, SIGKILL after 5 s; resolves once the child has exited. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  killGroup(child, 'SIGTERM')
  const kill = setTimeout(() => killGroup(child, 'SIGKILL'), 5_000)
  await exited.finally(() => clearTimeout(kill))
}

/** sidecar.sh of the variant as written (npx finds the installed bin), in its own process group. */
async function startSidecar(dir: string): Promise<{ child: ChildProcess; metrics: string }> {
  const child = spawn('bash', ['-e', 'sidecar.sh'], { cwd: dir, env: npmEnv, detached: true })
  children.push(child)
  const out = output(child)
  const metrics = await eventually('the sidecar to serve', async () => {
    if (child.exitCode !== null) throw new Error(`the sidecar exited: ${out()}`)
    return /serving (http:\/\/[^/\s]+\/metrics)/.exec(out())?.[1]
  })
  return { child, metrics }
}

/** Polls the variant's `/readyz` until its answer is the one `wanted`. */
function readyz(base: string, wanted: (status: number, body: string) => boolean, timeoutMs?: number) {
  return eventually(
    `/readyz to answer as ${wanted}`,
    async () => {
      const res = await fetch(`${base}/readyz`)
      return wanted(res.status, await res.text()) ? true : undefined
    },
    timeoutMs,
  )
}

const sigtermTest = (variant: string) =>
  `regression: SIGTERM kept the process alive with /readyz ready — ${variant}: serves, exports through the installed sidecar, fails readiness first, exits 0 within 5 s`

for (const variant of VARIANTS) {
  test(sigtermTest(variant), { skip }, async () => {
    const main = join(app, 'dist', variant, 'main.js')
    assert.ok(existsSync(main), 'the type-check test passed')
    const base = `http://127.0.0.1:${ports[variant]}`
    const sidecar = await startSidecar(join(app, variant))
    const service = spawn(process.execPath, [main], { cwd: join(app, variant), env: npmEnv })
    children.push(service)
    const serviceOut = output(service)
    const exited = once(service, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    try {
      await readyz(base, (status) => status === 200)
      // Under pressure the shedder may refuse (503); the placeholder route answers 200 otherwise.
      const { method, path } = ROUTE[variant]
      await eventually(`${method} ${path} to answer 200`, async () => {
        const res = await fetch(`${base}${path}`, { method })
        return res.status === 200 && (await res.text()).includes('ok') ? true : undefined
      })
      const level = new RegExp(`^beamline_pressure_level\\{[^}]*service="${SERVICE}"[^}]*\\} [012]$`, 'm')
      const db = new RegExp(
        `^beamline_semaphore_max\\{[^}]*service="${SERVICE}"[^}]*semaphore="db"[^}]*\\} 10$`,
        'm',
      )
      await eventually("the service in the sidecar's /metrics", async () => {
        const text = await (await fetch(sidecar.metrics)).text()
        return level.test(text) && db.test(text) ? true : undefined
      })

      const sent = performance.now()
      service.kill('SIGTERM')
      // Not the pressure's 503: the drain's, before the server closes.
      await readyz(base, (status, body) => status === 503 && body.includes('draining'), 5_000)
      const guard = setTimeout(() => service.kill('SIGKILL'), 20_000)
      const [code, signal] = await exited.finally(() => clearTimeout(guard))
      const ms = performance.now() - sent
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, serviceOut())
      assert.ok(ms < 5_000, `exited ${Math.round(ms)} ms after SIGTERM, over 5 s:\n${serviceOut()}`)
    } finally {
      if (service.exitCode === null && service.signalCode === null) service.kill('SIGKILL')
      await stopGroup(sidecar.child)
    }
  })
}
