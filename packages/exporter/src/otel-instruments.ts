import { warnOnce } from '@beamline/core'
import type { Attributes, BatchObservableCallback, Meter, Observable } from '@opentelemetry/api'
import { SampleReader } from './collect.js'
import type { Sources } from './sources.js'

export interface OtelInstrumentsOptions {
  /** Include the runtime metrics (event loop, GC, heap). Default `true`. */
  readonly runtime?: boolean
}

export interface OtelInstruments {
  /** Stops observing; the instruments stay registered on the meter but report nothing. */
  close(): void
}

/**
 * Registers the snapshot metrics as observable instruments on an `@opentelemetry/api` meter (names and
 * units in docs/metrics.md; labels become attributes). One batch callback reads the sources once per
 * collection. Errors are reported once through `process.emitWarning` and never reach the service.
 */
export function otelInstruments(
  meter: Meter,
  sources: Sources,
  options: OtelInstrumentsOptions = {},
): OtelInstruments {
  const reader = new SampleReader(sources, options.runtime ?? true)
  const instruments = new Map<string, Observable>()
  for (const def of reader.defs) {
    const opts = { description: def.help, unit: def.otel.unit }
    instruments.set(
      def.name,
      def.type === 'counter'
        ? meter.createObservableCounter(def.otel.name, opts)
        : meter.createObservableGauge(def.otel.name, opts),
    )
  }
  const callback: BatchObservableCallback = (observer) => {
    try {
      for (const def of reader.defs) {
        const instrument = instruments.get(def.name)!
        for (const s of reader.samples(def)) {
          const attributes: Attributes = {}
          for (let i = 0; i < def.labels.length; i++) attributes[def.labels[i]!] = s.labels[i]!
          observer.observe(instrument, s.value, attributes)
        }
      }
    } catch (err) {
      warnOnce('otel:observe', 'beamline: observing OpenTelemetry instruments failed', err)
    }
  }
  meter.addBatchObservableCallback(callback, [...instruments.values()])
  return {
    close() {
      meter.removeBatchObservableCallback(callback, [...instruments.values()])
      reader.close()
    },
  }
}
