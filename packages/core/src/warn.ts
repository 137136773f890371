/**
 * Telemetry must never break the application: where a metrics or exporter path fails, it reports once
 * through `process.emitWarning` (so `--no-warnings` and `process.on('warning')` work as usual) and
 * degrades. Each distinct `key` warns once per thread.
 */
const warned = new Set<string>()

export function warnOnce(key: string, message: string, cause?: unknown): void {
  if (warned.has(key)) return
  warned.add(key)
  const detail =
    cause instanceof Error ? `: ${cause.message}` : cause === undefined ? '' : `: ${String(cause)}`
  process.emitWarning(`${message}${detail}`, { type: 'BeamlineWarning', code: 'BEAMLINE_TELEMETRY' })
}
