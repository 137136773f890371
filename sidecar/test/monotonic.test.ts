/**
 * Invariant: every `_total` series the sidecar serves never decreases between two renders of
 * /metrics, except across a restart of the process that owns it, which shows as a new
 * `beamline_process_start_time_seconds` of that service (`beamline_sidecar_start_time_seconds` for the
 * sidecar's own counters). Checked over a changing workload of a real service (fixtures/churn-service:
 * mailboxes opening and closing, a semaphore refusing, a fanout channel refusing, undici bulkheads,
 * a throttle whose window slides), polled by the sidecar's command line and rendered once per round, in both formats, with
 * one restart of the service midway.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { eventually, parseExposition, promtool, promtoolProblems, startSidecarProcess } from './helpers.js'

const SERVICE = fileURLToPath(new URL('./fixtures/churn-service.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'beamline-mono-'))
const socket = `unix:${join(dir, 'churn.sock')}`
const children: ChildProcess[] = []

interface Reply {
  startTime: number
  time: number
}

async function startChurn(): Promise<{ child: ChildProcess; step(round: number): Promise<Reply> }> {
  const child = fork(SERVICE, [socket, 'churn-0'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  children.push(child)
  await once(child, 'message')
  return {
    child,
    async step(round) {
      child.send({ cmd: 'step', round })
      const [reply] = (await once(child, 'message')) as [Reply]
      return reply
    },
  }
}

after(() => {
  for (const c of children) c.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

it('regression: windowed values are exported as counters and fall (issue 15 #4): no _total decreases', async (t) => {
  let service = await startChurn()
  const sidecar = await startSidecarProcess(['--interval-ms', '150', '--target', socket])
  children.push(sidecar.child)
  const tool = promtool(t)
  const previous = new Map<string, number>()
  let startTime: number | undefined
  let decreasedAcrossRestart = 0
  let windowFell = 0
  let lastWindow: number | undefined
  const rounds = 14
  for (let round = 0; round < rounds; round++) {
    if (round === 7) {
      service.child.kill('SIGKILL')
      await once(service.child, 'exit')
      service = await startChurn()
    }
    const done = await service.step(round)
    // Render once the sidecar has polled after the round.
    const text = await eventually(`a poll after round ${round}`, async () => {
      const targets = (await (await fetch(`${sidecar.url}/api/v1/targets`)).json()) as {
        targets: Array<{ up: boolean; lastSuccessTime: number | null }>
      }
      const t0 = targets.targets[0]
      if (!t0?.up || (t0.lastSuccessTime ?? 0) <= done.time) return undefined
      return (await fetch(`${sidecar.url}/metrics`)).text()
    })
    const series = parseExposition(text)
    const start = [...series].find(([k]) => k.startsWith('beamline_process_start_time_seconds{'))?.[1]
    assert.ok(start !== undefined)
    const restarted = startTime !== undefined && start !== startTime
    if (startTime !== undefined && round !== 7) assert.equal(restarted, false, `round ${round}`)
    if (round === 7) assert.ok(restarted, 'the restart shows as a new process_start_time_seconds')
    startTime = start
    // A series of the old process that the new one has not reported yet must not be compared later.
    if (restarted)
      for (const key of previous.keys())
        if (key.includes('service="churn"') && !series.has(key)) previous.delete(key)
    for (const [key, v] of series) {
      if (!key.split('{')[0]!.endsWith('_total')) continue
      const before = previous.get(key)
      previous.set(key, v)
      if (before === undefined || v >= before) continue
      if (restarted && key.includes('service="churn"')) {
        decreasedAcrossRestart++
        continue
      }
      assert.fail(`${key} went from ${before} to ${v} in round ${round}`)
    }
    const window = [...series].find(([k]) => k.startsWith('beamline_undici_throttle_window_requests{'))?.[1]
    if (window !== undefined && lastWindow !== undefined && window < lastWindow) windowFell++
    lastWindow = window
    if (tool && round % 5 === 0) {
      assert.deepEqual(promtoolProblems(tool, text, false), [], `text, round ${round}`)
      const om = await (
        await fetch(`${sidecar.url}/metrics`, { headers: { accept: 'application/openmetrics-text' } })
      ).text()
      assert.deepEqual(promtoolProblems(tool, om, true), [], `OpenMetrics, round ${round}`)
    }
  }
  // The workload did what it is for: windows slid, mailboxes closed, the restart reset counters.
  assert.ok(windowFell > 0, 'the throttle window fell at least once')
  assert.ok(decreasedAcrossRestart > 0, 'the restart reset counters')
  for (const name of [
    'beamline_mailbox_enqueued_total',
    'beamline_undici_requests_total',
    'beamline_undici_throttle_requests_total',
    'beamline_semaphore_rejected_total',
    'beamline_channel_frames_total',
    'beamline_channel_bytes_total',
    'beamline_sidecar_polls_total',
  ])
    assert.ok(
      [...previous.keys()].some((k) => k.startsWith(`${name}{`) || k === name),
      `${name} was checked`,
    )
})
