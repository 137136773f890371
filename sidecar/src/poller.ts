import { SNAPSHOT_PATH, type Snapshot } from '@beamline/exporter'
import { Client, type Dispatcher, errors } from 'undici'
import type { Target } from './target.js'
import { snapshotProblem } from './validate.js'

/** Why a poll failed, as the `reason` label of `beamline_sidecar_poll_errors_total`: a bounded set. */
export const POLL_ERRORS = [
  'timeout',
  'network',
  'http_status',
  'too_large',
  'invalid_json',
  'invalid_snapshot',
  'unsupported_version',
] as const
export type PollError = (typeof POLL_ERRORS)[number]

export type PollResult =
  | { ok: true; snapshot: Snapshot; bytes: number }
  | { ok: false; error: PollError; reason: string }

const failed = (error: PollError, reason: string): PollResult => ({ ok: false, error, reason })

/**
 * Drops a body left unread. undici's body emits an abort error when destroyed before its end, which,
 * with no listener, would be thrown and end the sidecar (it did, on a target answering HTTP 500).
 */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {}).destroy()
}

export interface PollLimits {
  /** Whole-poll budget in ms: connect, headers and body. */
  readonly timeoutMs: number
  readonly maxBodyBytes: number
}

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
        discard(res.body)
        return failed('http_status', `HTTP ${res.statusCode}`)
      }
      const declared = Number(res.headers['content-length'])
      if (declared > maxBodyBytes) {
        discard(res.body)
        return failed('too_large', `body of ${declared} bytes exceeds the ${maxBodyBytes}-byte limit`)
      }
      const chunks: Buffer[] = []
      let bytes = 0
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        bytes += chunk.length
        if (bytes > maxBodyBytes) {
          res.body.destroy()
          return failed('too_large', `body exceeds the ${maxBodyBytes}-byte limit`)
        }
        chunks.push(chunk)
      }
      let doc: unknown
      try {
        doc = JSON.parse(Buffer.concat(chunks, bytes).toString('utf8'))
      } catch (err) {
        return failed('invalid_json', `invalid JSON: ${(err as Error).message}`)
      }
      const problem = snapshotProblem(doc)
      if (problem) return failed(problem.error, problem.reason)
      return { ok: true, snapshot: doc as Snapshot, bytes }
    } catch (err) {
      if (
        signal.aborted ||
        err instanceof errors.HeadersTimeoutError ||
        err instanceof errors.BodyTimeoutError
      ) {
        return failed('timeout', `timed out after ${timeoutMs} ms`)
      }
      if (err instanceof errors.ConnectTimeoutError)
        return failed('timeout', `connect timed out after ${timeoutMs} ms`)
      const e = err as NodeJS.ErrnoException
      return failed('network', e.code ? `${e.code}: ${e.message}` : String(e.message ?? e))
    }
  }

  close(): Promise<void> {
    return this.client.destroy().catch(() => {})
  }
}
