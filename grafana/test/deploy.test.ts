/*
 * The files operators copy: prometheus.yml, the Grafana provisioning and docker-compose.yml agree with
 * each other and with the dashboards and rules (job name, honor_labels, scrape interval, mount paths,
 * the commands they run exist), and `promtool check config` accepts prometheus.yml.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { GRAFANA_DIR, prometheusTool, REPO_DIR } from './helpers.js'

const read = (path: string) => parse(readFileSync(join(GRAFANA_DIR, path), 'utf8'), { merge: true })

const prometheus = read('prometheus.yml')
const datasources = read('provisioning/datasources/beamline.yml')
const providers = read('provisioning/dashboards/beamline.yml')
const compose = read('docker-compose.yml')

test('prometheus.yml keeps the sidecar labels, and Grafana knows its scrape interval', () => {
  const job = prometheus.scrape_configs.find((j: { job_name: string }) => j.job_name === 'beamline')
  assert.ok(job, 'a job named beamline, as BeamlineSidecarDown expects')
  assert.equal(job.honor_labels, true, 'without honor_labels Prometheus overwrites the process instance')
  const rules = readFileSync(join(GRAFANA_DIR, 'alerts', 'beamline-rules.yml'), 'utf8')
  assert.ok(rules.includes(`up{job="${job.job_name}"}`))
  const ds = datasources.datasources[0]
  assert.equal(ds.type, 'prometheus')
  assert.equal(ds.jsonData.timeInterval, prometheus.global.scrape_interval)
})

test('docker-compose.yml mounts what the provisioning and prometheus.yml expect and runs built files', () => {
  const s = compose.services
  assert.ok(s.grafana.volumes.includes(`./dashboards:${providers.providers[0].options.path}:ro`))
  assert.ok(s.grafana.volumes.includes('./provisioning:/etc/grafana/provisioning:ro'))
  for (const v of [...s.grafana.volumes, ...s.prometheus.volumes]) {
    assert.ok(existsSync(join(GRAFANA_DIR, v.split(':')[0])), v)
  }
  assert.ok(prometheus.rule_files[0].startsWith('/etc/prometheus/alerts/'))
  assert.ok(s.prometheus.volumes.includes('./alerts:/etc/prometheus/alerts:ro'))
  const target = prometheus.scrape_configs[0].static_configs[0].targets[0]
  assert.ok(s.sidecar.command.includes(`--listen=0.0.0.0:${target.split(':')[1]}`))
  assert.ok(s.sidecar.command.includes('--discover-dir=/run/beamline'))
  assert.ok(s['chat-service'].command.some((a: string) => a.startsWith('--socket=/run/beamline/')))
  // The node commands are the compiled entry points of these sources.
  for (const [service, source] of [
    ['sidecar', 'sidecar/src/cli.ts'],
    ['chat-service', 'examples/chat-service/src/main.ts'],
  ] as const) {
    const script = s[service].command[1] as string
    assert.equal(script.replace('/dist/src/', '/src/').replace(/\.js$/, '.ts'), source)
    assert.ok(existsSync(join(REPO_DIR, source)), source)
  }
})

test('promtool check config accepts prometheus.yml', (t) => {
  const bin = prometheusTool(t, 'promtool')
  if (!bin) return
  const dir = mkdtempSync(join(tmpdir(), 'beamline-promcfg-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  // The rule files' path is the container's; point it at the repository's copies.
  const config = readFileSync(join(GRAFANA_DIR, 'prometheus.yml'), 'utf8').replaceAll(
    '/etc/prometheus/alerts/',
    `${join(GRAFANA_DIR, 'alerts')}/`,
  )
  writeFileSync(join(dir, 'prometheus.yml'), config)
  const r = spawnSync(bin, ['check', 'config', join(dir, 'prometheus.yml')], {
    encoding: 'utf8',
    timeout: 30_000,
  })
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
})
