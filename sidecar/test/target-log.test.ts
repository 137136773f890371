/**
 * A target that keeps failing is logged once per change of state — down, down for another reason,
 * up again with the count of failed polls — and reminded of every `downReminderMs`, never once per
 * poll (it was one line a second: 14 lines in 15 s).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { startExporter } from '@beamline/exporter'
import { sidecarConfig, startSidecar } from '../src/index.js'
import { eventually } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'beamline-target-log-'))
after(() => rmSync(dir, { recursive: true, force: true }))

test('a failing target is logged once per change of state, with its count of failed polls', async () => {
  const path = join(dir, 'svc.sock')
  const target = `unix:${path}`
  const lines: string[] = []
  const reminderMs = 1500
  const started = Date.now()
  const sidecar = await startSidecar(
    sidecarConfig({ targets: [target], intervalMs: 100, listen: '127.0.0.1:0' }),
    { log: (line) => lines.push(line), downReminderMs: reminderMs },
  )
  const mine = () => lines.filter((l) => l.startsWith(`${target} `))
  const find = (re: RegExp) => async () => mine().find((l) => re.test(l))
  try {
    // Nothing listens yet: one "down", then, after the reminder period, one "still down" with a count.
    const reminder = await eventually(
      'a reminder',
      find(/ still down: ENOENT: .* \((\d+) failed polls in \d+ s\)$/),
    )
    assert.match(mine()[0]!, new RegExp(`^${target} down: ENOENT: connect ENOENT ${path}$`))
    assert.equal(mine().filter((l) => /^\S+ down: /.test(l)).length, 1, mine().join('\n'))
    assert.ok(Number(/\((\d+) failed/.exec(reminder)![1]) >= 2, reminder)

    // Another reason is another state.
    const http500 = createServer((_req, res) => res.writeHead(500).end())
    http500.listen(path)
    await once(http500, 'listening')
    await eventually('the new reason', find(/ still down, now: HTTP 500 \(\d+ failed polls in \d+ s\)$/))
    await new Promise((resolve) => http500.close(resolve))

    const exporter = await startExporter({ service: 'svc', instance: 'one', listen: { path } })
    try {
      const up = await eventually('up again', find(/ up again \(svc one\) after \d+ failed polls in \d+ s$/))
      // Every failed poll was of this target, all in a row before it came back.
      assert.equal(Number(/after (\d+) failed/.exec(up)![1]), sidecar.store.pollsFailed, up)
      assert.ok(sidecar.store.pollsFailed >= 10, `${sidecar.store.pollsFailed} failed polls`)
      // Far fewer lines than polls: down, each change of reason (to HTTP 500, and back to ENOENT if a
      // poll fell between the 500 server's close and the exporter's listen), up again, and at most
      // one reminder per reminder period (each comes at least `reminderMs` after the previous line).
      const elapsed = Date.now() - started
      const changes = mine().filter((l) => / still down, now: /.test(l)).length
      assert.ok(changes <= 2, mine().join('\n'))
      assert.ok(mine().length <= 2 + changes + Math.floor(elapsed / reminderMs), mine().join('\n'))
      assert.equal(mine().at(-1), up)
    } finally {
      await exporter.close()
    }
  } finally {
    await sidecar.close()
  }
})

test('regression: a target answering HTTP 500, or declaring a body over the limit, no longer ends the sidecar', async () => {
  // undici emits an abort error on a body destroyed unread; nobody listened, and the process died.
  const servers = [
    createServer((_req, res) => res.writeHead(500).end()),
    createServer((_req, res) => res.writeHead(200, { 'content-length': String(8 * 1024 * 1024) }).write('{')),
  ]
  const urls: string[] = []
  for (const server of servers) {
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    urls.push(`http://127.0.0.1:${(server.address() as { port: number }).port}`)
  }
  const sidecar = await startSidecar(
    sidecarConfig({ targets: urls, intervalMs: 100, listen: '127.0.0.1:0' }),
    {
      log: () => {},
    },
  )
  try {
    await eventually('a few failed polls of each', async () =>
      sidecar.store.pollsFailed >= 10 ? true : undefined,
    )
    const reasons = [...sidecar.store.targets.values()].map((t) => t.reason)
    assert.deepEqual(reasons, ['HTTP 500', 'body of 8388608 bytes exceeds the 4194304-byte limit'])
    assert.equal((await fetch(`${sidecar.url}/healthz`)).status, 200)
  } finally {
    await sidecar.close()
    for (const server of servers) {
      server.closeAllConnections()
      server.close()
    }
  }
})
