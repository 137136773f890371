/**
 * A real @beamline/fanout Channel exported end to end: its traffic (frames received, a refusal when
 * full) reaches the snapshot, which the sidecar's schema accepts, and the sidecar's /metrics serves
 * exactly the channel's own counts.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { startExporter } from '@beamline/exporter'
import { Channel } from '@beamline/fanout'
import { snapshotError } from '../src/validate.js'
import { eventually, parseExposition, startSidecarProcess, value } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'beamline-channels-'))
after(() => rmSync(dir, { recursive: true, force: true }))

it('exports a channel’s frames, bytes, refusals and fill through the snapshot and the sidecar', async (t) => {
  const ch = new Channel({ name: 'worker-1', capacityBytes: 256 })
  const exporter = await startExporter({
    service: 'fanout',
    channels: [ch],
    listen: { path: join(dir, 'ex.sock') },
  })
  t.after(() => exporter.close())
  // 3 frames of 40 bytes received, then fill the ring until trySend refuses.
  for (let i = 0; i < 3; i++) assert.equal(ch.trySend(new Uint8Array(40)), true)
  for (let i = 0; i < 3; i++) assert.ok(ch.receive())
  let sent = 3
  while (ch.trySend(new Uint8Array(40))) sent++
  assert.equal(ch.trySend(new Uint8Array(16)), false)
  const stats = ch.stats()
  assert.equal(stats.framesSent, sent)
  assert.equal(stats.framesRefused, 2)

  const snapshot = exporter.snapshot()
  assert.equal(snapshotError(JSON.parse(JSON.stringify(snapshot))), undefined)
  const row = snapshot.channels?.[0]
  assert.deepEqual(row, {
    name: 'worker-1',
    capacityBytes: 256,
    usedBytes: stats.usedBytes,
    queuedFrames: sent - 3,
    framesSent: sent,
    bytesSent: sent * 40,
    framesReceived: 3,
    bytesReceived: 120,
    framesRefused: 2,
    bytesRefused: 56,
    timedOut: 0,
    abandoned: 0,
    waitingSenders: 0,
  })
  assert.ok(stats.usedBytes > 0)

  const sidecar = await startSidecarProcess(['--interval-ms', '200', '--target', exporter.url])
  t.after(() => sidecar.child.kill('SIGKILL'))
  const series = await eventually('channel series', async () => {
    const s = parseExposition(await (await fetch(`${sidecar.url}/metrics`)).text())
    return value(s, 'beamline_channel_frames_total') === undefined ? undefined : s
  })
  const of = (name: string, ...labels: string[]) =>
    value(series, name, 'service="fanout"', 'channel="worker-1"', ...labels)
  assert.equal(of('beamline_channel_frames_total', 'direction="sent"'), sent)
  assert.equal(of('beamline_channel_frames_total', 'direction="received"'), 3)
  assert.equal(of('beamline_channel_frames_total', 'direction="refused"'), 2)
  assert.equal(of('beamline_channel_bytes_total', 'direction="sent"'), sent * 40)
  assert.equal(of('beamline_channel_bytes_total', 'direction="refused"'), 56)
  assert.equal(of('beamline_channel_used_bytes'), stats.usedBytes)
  assert.equal(of('beamline_channel_capacity_bytes'), 256)
  assert.equal(of('beamline_channel_queued_frames'), sent - 3)
  assert.equal(of('beamline_channel_abandoned_frames_total'), 0)
  assert.equal(of('beamline_channel_waiting_senders'), 0)
  ch.close()
})
