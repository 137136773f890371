#!/usr/bin/env node
/**
 * `npm run dashboards`: regenerates grafana/dashboards/*.json from the TypeScript definitions.
 * `--check` writes nothing and exits 1 when a checked-in file differs (what the tests also assert).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { DASHBOARDS, dashboardJson } from './dashboards.js'

const dir = new URL('../../dashboards/', import.meta.url)
const check = process.argv.includes('--check')
let stale = 0
for (const d of DASHBOARDS) {
  const path = fileURLToPath(new URL(d.file, dir))
  const text = dashboardJson(d.build())
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
