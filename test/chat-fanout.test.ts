/**
 * End to end: the example chat service (a real process, 4 room worker threads) broadcasts every
 * stored message to its room's members through Manifold, over one @beamline/fanout Channel per
 * worker; posts come from a real HTTP client, and the sidecar shows the channels.
 *
 * Invariants checked: every member of a room gets every message its room stored exactly once, in
 * the order stored (each session checks the room's seq: 1, 2, 3…), at the worker the hash ring gives
 * its session id; members of a room are spread over several workers; a room's messages never reach
 * another room's members; the service's counters agree (deliveries = recipients = broadcasts ×
 * members, one frame per owning worker per broadcast, one latency sample per frame, nothing out of
 * order); the sidecar's /metrics has beamline_channel_frames_total for every worker channel, with as
 * many frames received as sent once the service is idle.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { FanoutStats } from '@beamline/example-chat-service/dist/src/fanout-stats.js'
import type { MemberState } from '@beamline/example-chat-service/dist/src/messages.js'
import { HashRing } from '@beamline/ring'
import { eventually, startSidecarProcess, stopChild } from '@beamline/test-kit'
import { request } from 'undici'

const CHAT = fileURLToPath(new URL('../../examples/chat-service/dist/src', import.meta.url))
const WORKERS = 4
const MEMBERS = 300
/** Posts per room: in batches posted at once, so that several wait in the room's mailbox together. */
const ROOMS = { lobby: 40, kitchen: 15 }
const BATCH = 5

interface Members {
  room: string
  stored: number
  members: MemberState[]
}

/** The child's first IPC message `{ ready }`; rejects if it exits first (a flag it does not know). */
async function ready<T>(child: ChildProcess): Promise<T> {
  const stop = new AbortController()
  const exited = once(child, 'exit', { signal: stop.signal }).then(([code]) => {
    throw new Error(`${child.spawnargs.slice(1, 2)} exited with ${code} before it was ready`)
  })
  try {
    const [msg] = (await Promise.race([once(child, 'message', { signal: stop.signal }), exited])) as [
      { ready: T },
    ]
    return msg.ready
  } finally {
    stop.abort()
  }
}

test('a posted message reaches every member of its room exactly once, in order, across the workers, through Manifold', {
  timeout: 150_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beamline-chat-fanout-'))
  const children: ChildProcess[] = []
  t.after(async () => {
    await Promise.all(children.map(stopChild))
    rmSync(dir, { recursive: true, force: true })
  })
  const provider = fork(join(CHAT, 'demo/push-provider.js'), { stdio: 'inherit' })
  children.push(provider)
  const { urls } = await ready<{ urls: { apns: string; fcm: string } }>(provider)
  const service = fork(
    join(CHAT, 'main.js'),
    [
      ...['--apns', urls.apns, '--fcm', urls.fcm, '--socket', join(dir, 'chat.sock')],
      ...['--db-query-ms', '1', '--workers', String(WORKERS), '--members', String(MEMBERS)],
    ],
    { stdio: 'inherit' },
  )
  children.push(service)
  const { url, exporterUrl } = await ready<{ url: string; exporterUrl: string }>(service)

  // Posts, a batch at a time per room, both rooms at once. A 503 (the door sheds when the loaded
  // machine delays the service's event loop) is retried, as a client does.
  const refusals: string[] = []
  async function post(room: string, text: string): Promise<void> {
    for (const deadline = Date.now() + 60_000; ; ) {
      const { statusCode, body } = await request(`${url}/rooms/${room}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: 'alice', text, device: 'fcm' }),
      })
      const answer = await body.text()
      if (statusCode === 200) return
      refusals.push(`${statusCode} ${answer}`)
      assert.ok(statusCode === 503 && Date.now() < deadline, `${room}: ${refusals.join(', ')}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  await Promise.all(
    Object.entries(ROOMS).map(async ([room, posts]) => {
      for (let sent = 0; sent < posts; sent += BATCH)
        await Promise.all(
          Array.from({ length: Math.min(BATCH, posts - sent) }, (_, i) => post(room, `${room} ${sent + i}`)),
        )
    }),
  )
  if (refusals.length > 0) t.diagnostic(`refused and posted again: ${refusals.join(', ')}`)

  const ring = new HashRing({ nodes: Array.from({ length: WORKERS }, (_, i) => `worker-${i}`) })
  for (const [room, posts] of Object.entries(ROOMS)) {
    // Stored before the reply; delivered after it: wait until every member has caught up.
    let seen = 'nothing'
    const view = await eventually(
      `every member of ${room} to receive what the room stored`,
      async () => {
        const { statusCode, body } = await request(`${url}/rooms/${room}/members`)
        if (statusCode !== 200) {
          seen = `${statusCode} ${await body.text()}`
          return undefined
        }
        const v = (await body.json()) as Members
        const delivered = v.members.map((m) => m.delivered)
        seen = `${v.stored} stored; ${v.members.length} members got ${Math.min(...delivered)}–${Math.max(...delivered)}`
        return v.members.length === MEMBERS && delivered.every((d) => d >= v.stored) ? v : undefined
      },
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last seen: ${seen}`)
    })
    // Every post answered 200 was stored; one refused after its store (the push) was too, and posted again.
    assert.ok(view.stored >= posts, `${room}: ${view.stored} stored of ${posts} posts`)
    assert.deepEqual(
      view.members.map((m) => m.session).sort(),
      Array.from({ length: MEMBERS }, (_, i) => `${room}#${i}`).sort(),
      'each member once, and only the room’s own',
    )
    for (const m of view.members) {
      assert.deepEqual(
        { delivered: m.delivered, lastSeq: m.lastSeq, outOfOrder: m.outOfOrder },
        { delivered: view.stored, lastSeq: view.stored, outOfOrder: 0 },
        `${m.session}: every message once, in order`,
      )
      assert.equal(m.worker, ring.get(m.session), `${m.session} lives at its ring owner`)
    }
    const workers = new Set(view.members.map((m) => m.worker))
    assert.equal(workers.size, WORKERS, `${room}'s members span every worker: ${[...workers]}`)
  }

  const { statusCode, body } = await request(`${url}/fanout`)
  assert.equal(statusCode, 200)
  const stats = (await body.json()) as FanoutStats
  const stored = stats.stored
  assert.equal(stats.membersPerRoom, MEMBERS)
  assert.equal(stats.broadcasts, stored, 'one broadcast per stored message')
  assert.equal(stats.broadcastFailures, 0)
  assert.equal(stats.recipients, stored * MEMBERS)
  assert.equal(stats.deliveries, stored * MEMBERS, 'deliveries = stored × members')
  assert.equal(stats.outOfOrder, 0)
  assert.equal(stats.sessions, Object.keys(ROOMS).length * MEMBERS)
  assert.equal(stats.frames, stored * WORKERS, 'one frame per owning worker per broadcast')
  assert.equal(stats.latencyMs.count, stats.frames, 'one latency sample per frame')
  assert.ok(stats.latencyMs.p50! > 0 && stats.latencyMs.p99! >= stats.latencyMs.p50!, JSON.stringify(stats))

  // The channels in the sidecar: every frame sent into a worker's channel was received by it.
  const sidecar = await startSidecarProcess(['--target', exporterUrl])
  children.push(sidecar.child)
  const frames = await eventually('the channels in the sidecar’s /metrics', async () => {
    const { statusCode, body } = await request(`${sidecar.url}/metrics`)
    const text = await body.text()
    if (statusCode !== 200) return undefined
    const rows = [...text.matchAll(/^beamline_channel_frames_total\{([^}]*)\} (\d+)/gm)].map((m) => ({
      channel: /channel="([^"]*)"/.exec(m[1]!)?.[1],
      direction: /direction="([^"]*)"/.exec(m[1]!)?.[1],
      value: Number(m[2]),
    }))
    return rows.length > 0 ? rows : undefined
  })
  for (let w = 0; w < WORKERS; w++) {
    const of = (direction: string) =>
      frames.find((r) => r.channel === `worker-${w}` && r.direction === direction)?.value
    // Into worker w's channel: the posts of the rooms it owns, and one frame per broadcast.
    assert.ok(of('sent')! >= stored, `worker-${w}: ${JSON.stringify(frames)}`)
    assert.equal(of('received'), of('sent'), `worker-${w} read every frame`)
    assert.equal(of('refused'), 0)
  }
})
