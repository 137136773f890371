/**
 * The exporter runs inside users' services: its entry point must load nothing beyond @beamline/core
 * and Node's built-ins (prom-client and OpenTelemetry only when their collectors are called, TypeBox
 * never: the snapshot's definition is for the sidecar, `@beamline/exporter/schema`). Checked on the
 * compiled import graph, every static and dynamic import followed.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { it } from 'node:test'
import { fileURLToPath } from 'node:url'

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)|^import\s+'([^']+)'/gm

function graph(entry: URL): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>()
  const packages = new Map<string, string>()
  const visit = (url: URL) => {
    const path = fileURLToPath(url)
    if (files.has(path)) return
    files.add(path)
    const text = readFileSync(path, 'utf8')
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3]!
      if (spec.startsWith('.')) visit(new URL(spec, url))
      else packages.set(spec, path)
    }
  }
  visit(entry)
  return { files, packages }
}

it("the service's entry point loads no TypeBox, and prom-client / OpenTelemetry only lazily", () => {
  const { files, packages } = graph(new URL('../src/index.js', import.meta.url))
  assert.ok(files.size > 5, `followed ${files.size} files`)
  const allowed = (spec: string) => spec.startsWith('node:') || spec === '@beamline/core'
  const others = [...packages].filter(([spec]) => !allowed(spec))
  assert.deepEqual(others, [], 'static or dynamic imports beyond core and built-ins')
  assert.ok(![...files].some((f) => f.endsWith('snapshot-schema.js')), 'the schema module is not loaded')
})
