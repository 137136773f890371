/**
 * The signals a PressureMonitor combines. Their order is part of the shared-memory layout (bit i of
 * the reason masks and value slot i belong to SIGNALS[i]), so new signals are only ever appended.
 */
export const SIGNALS = [
  'queuedMessages',
  'longestQueue',
  'gcFraction',
  'eventLoopDelayP99Ms',
  'eventLoopUtilization',
  'heapUsedRatio',
] as const

export type SignalName = (typeof SIGNALS)[number]

/** Signals read from the mailbox registry; configuring one of them requires `registry`. */
export const QUEUE_SIGNALS: readonly SignalName[] = ['queuedMessages', 'longestQueue']

/** Signals that are fractions of something and therefore cannot exceed 1. */
export const FRACTION_SIGNALS: readonly SignalName[] = ['gcFraction', 'eventLoopUtilization', 'heapUsedRatio']

/** `[throttle, shed]`: the value at which a signal asks for level 1, and the value for level 2. */
export type Threshold = readonly [throttle: number, shed: number]

export type Thresholds = Partial<Record<SignalName, Threshold>>

/** The thresholds used when `thresholds` is omitted; the queue signals only when a registry is given. */
export const DEFAULT_THRESHOLDS: Readonly<Record<SignalName, Threshold>> = {
  queuedMessages: [5_000, 20_000],
  longestQueue: [1_000, 10_000],
  gcFraction: [0.1, 0.25],
  eventLoopDelayP99Ms: [50, 200],
  eventLoopUtilization: [0.9, 0.98],
  heapUsedRatio: [0.8, 0.92],
}

/** One signal over its throttle threshold (or still cooling down from it), as reported in `reasons`. */
export interface PressureReason {
  signal: SignalName
  /** The signal's latest value. */
  value: number
  throttle: number
  shed: number
  /** The level this signal holds the monitor at, hysteresis included. */
  level: 1 | 2
}
