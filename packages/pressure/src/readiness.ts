import type { IncomingMessage, ServerResponse } from 'node:http'
import type { PressureMonitor } from './monitor.js'

/**
 * A `/readyz` handler that reports pressure: 200 `{ ready: true, level, score, reasons }`, or 503
 * with the same body from level `notReadyAt` (default 2, shedding) on, so that a load balancer moves
 * traffic elsewhere while this process sheds. Liveness (`/livez`) should not use it: an overloaded
 * process is alive and must not be restarted for being busy.
 */
export function readyzHandler(
  pressure: PressureMonitor,
  options: { notReadyAt?: 1 | 2 } = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    const readiness = pressure.readiness(options.notReadyAt)
    const body = JSON.stringify(readiness)
    res
      .writeHead(readiness.ready ? 200 : 503, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
        'cache-control': 'no-store',
      })
      .end(body)
  }
}
