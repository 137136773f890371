import type { Snapshot } from '@beamline/exporter'
import { Client, errors } from 'undici'
import type { Target } from './target.js'
import { snapshotError } from './validate.js'

export type PollResult = { ok: true; snapshot: Snapshot; bytes: number } | { ok: false; reason: string }

export interface PollLimits {
  /** Whole-poll budget in ms: connect, headers and body. */
  readonly timeoutMs: number
  readonly maxBodyBytes: number
}

const SNAPSHOT_PATH = '/beamline/v1/snapshot'

/**
 * One keep-alive connection to one exporter. Every poll is bounded in time (one abort signal covers
 * connect, headers and body) and in size (the declared length is checked first, then the bytes as
 * they arrive), so a hung, slow or flooding target costs at most `timeoutMs` and `maxBodyBytes`.
 */
export class TargetClient {
  private readonly client: Client

  constructor(
    readonly target: Target,
    private readonly limits: PollLimits,
  ) {
    this.client = new Client(target.origin, {
      ...(target.socketPath ? { socketPath: target.socketPath } : {}),
      connect: { timeout: limits.timeoutMs },
      headersTimeout: limits.timeoutMs,
      bodyTimeout: limits.timeoutMs,
      keepAliveTimeout: 10_000,
      pipelining: 1,
    })
  }

  async poll(): Promise<PollResult> {
    const { timeoutMs, maxBodyBytes } = this.limits
    const signal = AbortSignal.timeout(timeoutMs)
    try {
      const res = await this.client.request({
        path: SNAPSHOT_PATH,
        method: 'GET',
        signal,
        headers: { accept: 'application/json' },
      })
      if (res.statusCode !== 200) {
        res.body.destroy()
        return { ok: false, reason: `HTTP ${res.statusCode}` }
      }
      const declared = Number(res.headers['content-length'])
      if (declared > maxBodyBytes) {
        res.body.destroy()
        return { ok: false, reason: `body of ${declared} bytes exceeds the ${maxBodyBytes}-byte limit` }
      }
      const chunks: Buffer[] = []
      let bytes = 0
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        bytes += chunk.length
        if (bytes > maxBodyBytes) {
          res.body.destroy()
          return { ok: false, reason: `body exceeds the ${maxBodyBytes}-byte limit` }
        }
        chunks.push(chunk)
      }
      let doc: unknown
      try {
        doc = JSON.parse(Buffer.concat(chunks, bytes).toString('utf8'))
      } catch (err) {
        return { ok: false, reason: `invalid JSON: ${(err as Error).message}` }
      }
      const invalid = snapshotError(doc)
      if (invalid) return { ok: false, reason: `invalid snapshot: ${invalid}` }
      return { ok: true, snapshot: doc as Snapshot, bytes }
    } catch (err) {
      if (
        signal.aborted ||
        err instanceof errors.HeadersTimeoutError ||
        err instanceof errors.BodyTimeoutError
      ) {
        return { ok: false, reason: `timed out after ${timeoutMs} ms` }
      }
      if (err instanceof errors.ConnectTimeoutError)
        return { ok: false, reason: `connect timed out after ${timeoutMs} ms` }
      const e = err as NodeJS.ErrnoException
      return { ok: false, reason: e.code ? `${e.code}: ${e.message}` : String(e.message ?? e) }
    }
  }

  close(): Promise<void> {
    return this.client.destroy().catch(() => {})
  }
}
