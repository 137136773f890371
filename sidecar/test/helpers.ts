import { type ChildProcess, fork, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { prometheusTool } from '@beamline/test-kit'

export { eventually, SIDECAR_CLI as CLI, type SidecarProcess, startSidecarProcess } from '@beamline/test-kit'

export interface ServiceReply {
  url: string
  instance: string
  pid: number
  startTime: number
  totals: { enqueued: number; dequeued: number; dropped: number; acquired: number; rejected: number }
}

export interface Service {
  child: ChildProcess
  first: ServiceReply
  send(command: object): Promise<ServiceReply>
}

/** Forks test/fixtures/service.js and waits for its exporter to listen. */
export async function startService(name: string, listen: string, instance?: string): Promise<Service> {
  const args = [name, listen, ...(instance === undefined ? [] : [instance])]
  const child = fork(fileURLToPath(new URL('./fixtures/service.js', import.meta.url)), args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const [first] = (await once(child, 'message')) as [ServiceReply]
  return {
    child,
    first,
    async send(command) {
      child.send(command)
      const [reply] = (await once(child, 'message')) as [ServiceReply]
      return reply
    },
  }
}

/** Parses Prometheus text into `name{labels}` → value, labels as printed. */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}

/** Value of the first series of `name` whose printed labels include every `parts`. */
export function value(series: Map<string, number>, name: string, ...parts: string[]): number | undefined {
  for (const [k, v] of series) {
    if ((k === name || k.startsWith(`${name}{`)) && parts.every((p) => k.includes(p))) return v
  }
  return undefined
}

/**
 * `promtool` from Debian's `prometheus` package: skips the test when missing on a dev machine, fails
 * in CI (where .ci/run installs it).
 */
export function promtool(t: TestContext): string | undefined {
  return prometheusTool(t, 'promtool')
}

/**
 * Problems `promtool check metrics` finds in an exposition; none is []. promtool reads the Prometheus
 * text format only: on OpenMetrics a parse error (two families with one name, as a counter `x_total`
 * next to a gauge `x`) is still an error, but each counter `x_total`, whose HELP and TYPE OpenMetrics
 * writes for the family `x`, is linted as "no help text": those lines are dropped when the family has
 * its HELP.
 */
export function promtoolProblems(tool: string, text: string, openMetrics: boolean): string[] {
  const r = spawnSync(tool, ['check', 'metrics'], { input: text, encoding: 'utf8' })
  if (r.status === 0) return []
  const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '')
  if (!openMetrics || r.status !== 3) return lines.length > 0 ? lines : [`exit ${r.status}`]
  return lines.filter((l) => {
    const m = /^(\S+)_total no help text$/.exec(l)
    return !(m && text.includes(`\n# HELP ${m[1]} `))
  })
}
