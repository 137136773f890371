import { acquireRuntimeSampler as acquireCore, type RuntimeSampler as CoreSampler } from '@beamline/core'
import type { RuntimeSnapshot } from './snapshot-schema.js'

/**
 * The exporter's hold on the thread's one runtime sampler (@beamline/core, shared with the pressure
 * monitor), read as the snapshot's `runtime` section: delay and utilization of the last complete
 * one-second window, cumulative GC, heap spaces and RSS now.
 */
export class RuntimeSampler {
  constructor(private readonly sampler: CoreSampler) {}

  read(): RuntimeSnapshot {
    const window = this.sampler.eventLoopWindow()
    return {
      windowSeconds: window.windowSeconds,
      eventLoopDelay: window.delay,
      eventLoopUtilization: window.utilization,
      gc: this.sampler.gcTotals(),
      heapSpaces: this.sampler.heapSpaces(),
      rssBytes: process.memoryUsage.rss(),
    }
  }

  release(): void {
    this.sampler.release()
  }
}

/** Holds this thread's runtime sampler (event loop and GC); pair with `releaseRuntimeSampler`. */
export function acquireRuntimeSampler(): RuntimeSampler {
  return new RuntimeSampler(acquireCore())
}

export function releaseRuntimeSampler(sampler: RuntimeSampler): void {
  sampler.release()
}
