/** What the main thread and the room workers send each other (structured-cloned by postMessage). */
import type { MailboxRegistryHandle } from '@beamline/mailbox'
import type { PressureHandle } from '@beamline/pressure'
import type { HashRingHandle } from '@beamline/ring'
import type { SemaphoreHandle } from '@beamline/semaphore'

/** The push providers a device can be registered with; each is one outbound origin. */
export const DEVICES = ['apns', 'fcm'] as const
export type Device = (typeof DEVICES)[number]

/** A chat message on its way: HTTP front → room owner (store) → push lane (notify) → HTTP reply. */
export interface ChatMessage {
  /** Request id in the main thread, to find the waiting HTTP response again. */
  readonly id: number
  readonly room: string
  readonly from: string
  readonly text: string
  readonly device: Device
}

/** A worker's answer for one message: 200 once stored, otherwise why not. */
export interface StoreResult {
  readonly id: number
  readonly status: 200 | 503 | 421
  readonly reason?: string
}

/** Everything a room worker needs, as plain handles: the shared memory is the same in every thread. */
export interface WorkerConfig {
  readonly workerId: string
  readonly registry: MailboxRegistryHandle
  readonly ring: HashRingHandle
  readonly db: SemaphoreHandle
  readonly pressure: PressureHandle
  readonly protect: boolean
  readonly dbQueryMs: number
  /** [0]: messages this worker has taken from its channel, so the main thread can see the backlog. */
  readonly received: Int32Array
}
