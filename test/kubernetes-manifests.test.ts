/**
 * examples/kubernetes, checked as far as a machine without a cluster can check it.
 *
 * Invariants checked:
 * - every object of every manifest is valid against the schema of its kind: the Kubernetes OpenAPI
 *   schemas of `kubernetes-models` and the Prometheus Operator CRD schemas of
 *   `@kubernetes-models/prometheus-operator` (types, required fields, enums, formats), and the same
 *   validators refuse the manifests once a field is mistyped or a required one removed;
 * - the sidecar's config files are taken by the real sidecar: every value as written passes the
 *   sidecar's own checks, and the real command line, started with the Deployment's own arguments and
 *   the file (only its socket directory and Collector address moved to this machine), polls an
 *   exporter socket there, answers /healthz and /readyz and, in the OTLP variant, pushes to the path
 *   the Collector receives on;
 * - the objects refer to one another consistently: ports, labels, selectors, mounts, the Collector's
 *   Service and the pipeline's components;
 * - where an `otelcol-contrib` binary is on PATH (none in CI: no registry it reaches ships one), the
 *   Collector's own `validate` accepts the gateway's config;
 * - the PrometheusRule holds exactly the groups and rule names of grafana/alerts, and promtool accepts
 *   them.
 * Not checked (examples/kubernetes/README.md): a real cluster, the Operator or Collector picking them
 * up, unknown fields (the Kubernetes schemas allow them), the Collector's component settings without
 * its binary.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startExporter } from '@beamline/exporter'
import { sidecarConfig } from '@beamline/sidecar'
import { commandOnPath, eventually, prometheusTool, startSidecarProcess, stopChild } from '@beamline/test-kit'
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor'
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Service } from 'kubernetes-models/v1/Service'
import { parse, parseAllDocuments, stringify } from 'yaml'

const DIR = fileURLToPath(new URL('../../examples/kubernetes/', import.meta.url))
const ALERTS = fileURLToPath(new URL('../../grafana/alerts/', import.meta.url))

/** The schema of each kind, by `apiVersion` and `kind`; a manifest of any other kind fails the test. */
const MODELS: Readonly<Record<string, new (data: never) => { validate(): void }>> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
}

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, walked by the fields each kind's schema has just checked
type Manifest = any

interface Document {
  readonly where: string
  readonly object: Manifest
}

function documents(): Document[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc, i) => {
        assert.deepEqual(doc.errors, [], `${file}: YAML errors`)
        return { where: `${file}#${i}`, object: doc.toJS() }
      }),
    )
}

/** Validates one object against the schema of its kind; throws the validator's error. */
function validate(object: Manifest): void {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`]
  assert.ok(Model, `no schema for ${object.apiVersion} ${object.kind}`)
  new Model(structuredClone(object) as never).validate()
}

const all = documents()
const one = (file: string, kind: string) => {
  const found = all.filter((d) => d.where.startsWith(`${file}#`) && d.object.kind === kind)
  assert.equal(found.length, 1, `${file}: one ${kind}`)
  return found[0]!.object
}
const deployment = one('deployment.yaml', 'Deployment')
const sidecarContainer = deployment.spec.template.spec.containers.find(
  (c: Manifest) => c.name === 'beamline-sidecar',
)
const sidecarFile = (file: string) =>
  parse(one(file, 'ConfigMap').data['sidecar.yaml']) as Record<string, unknown>

describe('examples/kubernetes', () => {
  it('every object is valid against the schema of its kind', () => {
    for (const { where, object } of all) {
      assert.doesNotThrow(() => validate(object), `${where} (${object.kind} ${object.metadata?.name})`)
    }
    assert.deepEqual(
      [...new Set(all.map((d) => `${d.object.apiVersion}/${d.object.kind}`))].sort(),
      Object.keys(MODELS).sort(),
      'every kind the README promises is there',
    )
  })

  it('the schemas refuse a mistyped or incomplete manifest', () => {
    const broken: Array<[string, Manifest, (o: Manifest) => void, RegExp]> = [
      [
        'a port number as text',
        deployment,
        (o) => {
          o.spec.template.spec.containers[1].ports[0].containerPort = '9464'
        },
        /containerPort must be integer/,
      ],
      ['a pod without containers', deployment, (o) => delete o.spec.template.spec.containers, /containers/],
      [
        'a boolean as text',
        one('podmonitor.yaml', 'PodMonitor'),
        (o) => {
          o.spec.podMetricsEndpoints[0].honorLabels = 'yes'
        },
        /honorLabels must be boolean/,
      ],
      [
        'a relabeling action that does not exist',
        one('servicemonitor.yaml', 'ServiceMonitor'),
        (o) => {
          o.spec.endpoints[0].relabelings[0].action = 'rename'
        },
        /action must be equal to one of the allowed values/,
      ],
      [
        'a rule duration that is not one',
        one('prometheus-rule.yaml', 'PrometheusRule'),
        (o) => {
          o.spec.groups[1].rules[0].for = '5 minutes'
        },
        /for must match pattern/,
      ],
      [
        'a service port out of range',
        one('service.yaml', 'Service'),
        (o) => {
          o.spec.ports[0].port = 'metrics'
        },
        /port must be integer/,
      ],
      [
        'a config file as a mapping instead of text',
        one('configmap.yaml', 'ConfigMap'),
        (o) => {
          o.data['sidecar.yaml'] = { listen: '0.0.0.0:9464' }
        },
        /must be string/,
      ],
    ]
    for (const [what, original, mutate, message] of broken) {
      const object = structuredClone(original)
      mutate(object)
      assert.throws(() => validate(object), message, `${what} in ${original.kind}`)
    }
  })

  it('the Deployment, Service and monitors refer to one another', () => {
    const template = deployment.spec.template
    const labels = template.metadata.labels
    const matches = (selector: Record<string, string>, on: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => on[k] === v)
    assert.ok(matches(deployment.spec.selector.matchLabels, labels), 'the Deployment selects its pods')
    const config = sidecarFile('configmap.yaml')
    const metricsPort = sidecarContainer.ports.find((p: Manifest) => p.name === 'metrics')
    assert.equal(`0.0.0.0:${metricsPort.containerPort}`, config.listen, 'the sidecar listens on its port')
    for (const container of template.spec.containers) {
      const sockets = container.volumeMounts.find((m: Manifest) => m.name === 'beamline-sockets')
      assert.equal(sockets.mountPath, config.discoverDir, `${container.name} mounts the socket directory`)
    }
    const configMount = sidecarContainer.volumeMounts.find((m: Manifest) => m.name === 'sidecar-config')
    const configVolume = template.spec.volumes.find((v: Manifest) => v.name === 'sidecar-config')
    assert.equal(configVolume.configMap.name, one('configmap.yaml', 'ConfigMap').metadata.name)
    assert.deepEqual(sidecarContainer.args, ['--config', `${configMount.mountPath}/sidecar.yaml`])
    for (const probe of [sidecarContainer.readinessProbe, sidecarContainer.livenessProbe])
      assert.equal(probe.httpGet.port, 'metrics')

    const service = one('service.yaml', 'Service')
    assert.ok(matches(service.spec.selector, labels), 'the Service selects the pods')
    assert.equal(service.spec.ports[0].targetPort, 'metrics')
    const serviceMonitor = one('servicemonitor.yaml', 'ServiceMonitor')
    assert.ok(matches(serviceMonitor.spec.selector.matchLabels, service.metadata.labels))
    assert.equal(serviceMonitor.spec.endpoints[0].port, service.spec.ports[0].name)
    const podMonitor = one('podmonitor.yaml', 'PodMonitor')
    assert.ok(matches(podMonitor.spec.selector.matchLabels, labels), 'the PodMonitor selects the pods')
    assert.equal(podMonitor.spec.podMetricsEndpoints[0].port, 'metrics')
    // BeamlineSidecarDown reads up{job="beamline"}.
    const rule = one('prometheus-rule.yaml', 'PrometheusRule')
    for (const endpoint of [podMonitor.spec.podMetricsEndpoints[0], serviceMonitor.spec.endpoints[0]])
      assert.deepEqual(endpoint.relabelings, [{ targetLabel: 'job', replacement: 'beamline' }])
    // The Prometheus that loads the rules is the one that selects the monitors.
    for (const monitor of [podMonitor, serviceMonitor])
      assert.equal(monitor.metadata.labels.release, rule.metadata.labels.release)
  })

  it('every value of both sidecar config files passes the sidecar’s own checks as written', () => {
    const scraped = sidecarConfig(sidecarFile('configmap.yaml'))
    assert.deepEqual(scraped.listen, { host: '0.0.0.0', port: 9464 })
    assert.equal(scraped.discoverDir, '/run/beamline')
    assert.equal(scraped.otlp, undefined)
    const pushing = sidecarConfig(sidecarFile('configmap-otlp.yaml'))
    assert.deepEqual(pushing.otlp, {
      endpoint: 'http://otel-collector.monitoring:4318/v1/metrics',
      intervalMs: 10_000,
    })
  })

  it('the real sidecar starts with the Deployment’s arguments and the file, polls a socket and is ready', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'beamline-kube-'))
    const exporter = await startExporter({
      service: 'chat-api',
      listen: { path: join(dir, `chat-api-${process.pid}.sock`) },
    })
    try {
      const sidecar = await startWithFile(dir, 'configmap.yaml', {})
      try {
        await eventually('/readyz answers 200', async () => {
          const res = await fetch(`${sidecar.url}/readyz`)
          return res.status === 200 || undefined
        })
        assert.equal((await fetch(`${sidecar.url}/healthz`)).status, 200)
        await eventually('the socket in discoverDir is polled', () => targetUp(sidecar.url, exporter.url))
      } finally {
        await stopChild(sidecar.child)
      }
    } finally {
      await exporter.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the OTLP variant pushes to the Collector Service’s port and the path its receiver serves', async () => {
    const collector = (kind: string) => one('otel-collector.yaml', kind)
    const service = collector('Service')
    const collectorConfig = parse(collector('ConfigMap').data['config.yaml'])
    const endpoint = new URL(sidecarFile('configmap-otlp.yaml').otlpEndpoint as string)
    assert.equal(endpoint.hostname, `${service.metadata.name}.${service.metadata.namespace}`)
    const otlpPort = service.spec.ports.find((p: Manifest) => p.name === 'otlp-http')
    assert.equal(Number(endpoint.port), otlpPort.port)
    const container = collector('Deployment').spec.template.spec.containers[0]
    const containerPort = container.ports.find((p: Manifest) => p.name === otlpPort.targetPort)
    assert.equal(
      collectorConfig.receivers.otlp.protocols.http.endpoint,
      `0.0.0.0:${containerPort.containerPort}`,
    )
    // The otlp receiver's default metrics path; the config sets no other.
    assert.equal(collectorConfig.receivers.otlp.protocols.http.metrics_url_path, undefined)
    assert.equal(endpoint.pathname, '/v1/metrics')

    const bodies: Array<{ path: string; type: string; body: string }> = []
    const receiver = createServer((req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (chunk: string) => (body += chunk))
      req.on('end', () => {
        bodies.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body })
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    receiver.listen(0, '127.0.0.1')
    await once(receiver, 'listening')
    const dir = mkdtempSync(join(tmpdir(), 'beamline-kube-'))
    const exporter = await startExporter({
      service: 'chat-api',
      listen: { path: join(dir, `chat-api-${process.pid}.sock`) },
    })
    try {
      const here = new URL(endpoint)
      here.host = `127.0.0.1:${(receiver.address() as AddressInfo).port}`
      const sidecar = await startWithFile(dir, 'configmap-otlp.yaml', { otlpEndpoint: here.href })
      try {
        await eventually('the socket in discoverDir is polled', () => targetUp(sidecar.url, exporter.url))
      } finally {
        // SIGTERM pushes once more before exiting, whatever the 10 s interval.
        await stopChild(sidecar.child)
      }
      assert.equal(sidecar.child.exitCode, 0, sidecar.stderr())
      const pushed = bodies.filter((b) => b.body.includes('"chat-api"'))
      assert.ok(pushed.length > 0, `the chat-api Resource was pushed: ${sidecar.stderr()}`)
      assert.equal(pushed[0]!.path, '/v1/metrics')
      assert.match(pushed[0]!.type, /^application\/json/)
    } finally {
      await exporter.close()
      receiver.closeAllConnections()
      receiver.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the Collector pipeline takes OTLP metrics through memory_limiter and batch to a defined exporter', () => {
    const config = parse(one('otel-collector.yaml', 'ConfigMap').data['config.yaml'])
    const pipeline = config.service.pipelines.metrics
    assert.deepEqual(pipeline.receivers, ['otlp'])
    // memory_limiter first, so that it refuses before anything else holds the data.
    assert.deepEqual(pipeline.processors, ['memory_limiter', 'batch'])
    for (const section of ['receivers', 'processors', 'exporters'] as const)
      for (const id of pipeline[section])
        assert.ok(id in config[section], `${section}.${id} is defined for the pipeline`)
    for (const id of config.service.extensions) assert.ok(id in config.extensions, `extensions.${id}`)
    assert.ok(pipeline.exporters.length > 0)
    const container = one('otel-collector.yaml', 'Deployment').spec.template.spec.containers[0]
    const health = container.ports.find((p: Manifest) => p.name === 'health')
    assert.equal(config.extensions.health_check.endpoint, `0.0.0.0:${health.containerPort}`)
    assert.deepEqual(container.args, ['--config=/etc/otelcol/config.yaml'])
    assert.equal(container.volumeMounts[0].mountPath, '/etc/otelcol')
  })

  it('the Collector’s own validate command accepts its config, where its binary is installed', (t) => {
    // No package registry this project's CI reaches ships a Collector binary: the check runs where a
    // developer has one, and is skipped (CI included) elsewhere.
    const otelcol = commandOnPath('otelcol-contrib')
    if (!otelcol) {
      t.skip(
        'otelcol-contrib not found on PATH: put the binary of the opentelemetry-collector-contrib release ' +
          'that otel-collector.yaml names on PATH to validate its component settings',
      )
      return
    }
    const dir = mkdtempSync(join(tmpdir(), 'beamline-kube-'))
    try {
      const file = join(dir, 'config.yaml')
      writeFileSync(file, one('otel-collector.yaml', 'ConfigMap').data['config.yaml'])
      execFileSync(otelcol, ['validate', `--config=${file}`], { encoding: 'utf8', stdio: 'pipe' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the PrometheusRule holds the rule files’ groups and rules, and promtool accepts them', (t) => {
    const rule = one('prometheus-rule.yaml', 'PrometheusRule')
    const names = (groups: Manifest[]) =>
      groups.map((g) => `${g.name}: ${g.rules.map((r: Manifest) => r.alert ?? r.record).join(' ')}`)
    const files = ['beamline-recording-rules.yml', 'beamline-rules.yml'].flatMap(
      (f) => parse(readFileSync(join(ALERTS, f), 'utf8')).groups,
    )
    assert.deepEqual(names(rule.spec.groups), names(files))
    const promtool = prometheusTool(t, 'promtool')
    if (!promtool) return
    const dir = mkdtempSync(join(tmpdir(), 'beamline-kube-'))
    try {
      const file = join(dir, 'rules.yml')
      writeFileSync(file, stringify({ groups: rule.spec.groups }))
      const out = execFileSync(promtool, ['check', 'rules', file], { encoding: 'utf8' })
      const count = rule.spec.groups.reduce((n: number, g: Manifest) => n + g.rules.length, 0)
      assert.match(out, new RegExp(`SUCCESS: ${count} rules found`))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

/** True once the sidecar's last poll of `target` (`unix:/….sock`) returned a valid snapshot. */
async function targetUp(sidecarUrl: string, target: string): Promise<true | undefined> {
  const metrics = await (await fetch(`${sidecarUrl}/metrics`)).text()
  return metrics.split('\n').includes(`beamline_target_up{target="${target}"} 1`) || undefined
}

/**
 * The real sidecar command line with the Deployment's arguments and a copy of `file`'s config, in
 * which only what cannot exist on this machine moves: the socket directory to `dir`, and `moved`.
 * The test kit adds `--listen 127.0.0.1:0` (a free loopback port); the file's own listen value is
 * checked by `sidecarConfig` above.
 */
function startWithFile(dir: string, file: string, moved: Record<string, string>) {
  const config = join(dir, 'sidecar.yaml')
  writeFileSync(config, stringify({ ...sidecarFile(file), discoverDir: dir, ...moved }))
  const [configFlag, configPath] = sidecarContainer.args
  assert.equal(configFlag, '--config')
  return startSidecarProcess(sidecarContainer.args.map((a: string) => (a === configPath ? config : a)))
}
