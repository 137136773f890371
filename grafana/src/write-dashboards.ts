#!/usr/bin/env node
/**
 * `npm run dashboards`: regenerates grafana/dashboards/*.json from the TypeScript definitions, the
 * recording rules (grafana/alerts/beamline-recording-rules.yml) and the Kubernetes PrometheusRule.
 * `--check` writes nothing and exits 1 when a checked-in file differs (what the tests also assert).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GENERATED_FILES, REPOSITORY } from './generated.js'

const check = process.argv.includes('--check')
let stale = 0
for (const f of GENERATED_FILES) {
  const path = join(REPOSITORY, f.path)
  const text = f.text()
  if (check) {
    let current = ''
    try {
      current = readFileSync(path, 'utf8')
    } catch {}
    if (current !== text) {
      stale++
      console.error(`${path} is out of date: run npm run dashboards`)
    }
  } else {
    writeFileSync(path, text)
    console.log(`wrote ${path}`)
  }
}
process.exitCode = stale > 0 ? 1 : 0
