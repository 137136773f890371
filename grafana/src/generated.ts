/** Every file `npm run dashboards` writes, relative to the repository root, with its text. */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { DASHBOARDS, dashboardJson } from './dashboards.js'
import { prometheusRuleYaml } from './prometheus-rule.js'
import { recordingRulesYaml } from './recording-rules.js'

export interface GeneratedFile {
  readonly path: string
  text(): string
}

/** The repository root (this file runs from grafana/dist/src). */
export const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url))

export const GENERATED_FILES: readonly GeneratedFile[] = [
  ...DASHBOARDS.map((d) => ({ path: `grafana/dashboards/${d.file}`, text: () => dashboardJson(d.build()) })),
  { path: 'grafana/alerts/beamline-recording-rules.yml', text: recordingRulesYaml },
  {
    path: 'examples/kubernetes/prometheus-rule.yaml',
    text: () => prometheusRuleYaml(readFileSync(`${REPOSITORY}grafana/alerts/beamline-rules.yml`, 'utf8')),
  },
]
