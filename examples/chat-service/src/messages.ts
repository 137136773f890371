/**
 * What the main thread and the room workers send each other: posts and room broadcasts as Manifold
 * frames over the workers' channels (JSON, no structured clone), store results and member queries by
 * postMessage.
 */
import type { RecordableHistogram } from 'node:perf_hooks'
import type { ManifoldHandle } from '@beamline/fanout'
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

/** A stored message as every member of its room receives it. */
export interface RoomDelivery {
  readonly room: string
  /** 1, 2, 3… in the order the room's owner stored them: a member checks it got each once, in order. */
  readonly seq: number
  readonly from: string
  readonly text: string
  /** When the owner stored it, ms since the epoch (`performance.timeOrigin + now()`, the same clock in every thread). */
  readonly storedAt: number
}

/**
 * A frame on a worker's channel: a post to store (recipient: the room, so it reaches the room's owner)
 * or a stored message to deliver (recipients: that worker's members of the room).
 */
export type WorkerMail = { readonly post: ChatMessage } | { readonly deliver: RoomDelivery }

/** One member of a room, as the worker owning its session sees it. */
export interface MemberState {
  readonly session: string
  readonly worker: string
  /** Messages delivered to it. */
  readonly delivered: number
  /** The seq of the last one. */
  readonly lastSeq: number
  /** Deliveries whose seq was not the previous one + 1 (a duplicate, a gap or a reordering). */
  readonly outOfOrder: number
}

/** Main thread → every worker (postMessage): which sessions of `room` do you own, how many stored? */
export interface MembersQuery {
  readonly query: number
  readonly room: string
}

/** Worker → main thread: its answer; `stored` is non-zero only at the room's owner. */
export interface MembersReply {
  readonly query: number
  readonly stored: number
  readonly members: readonly MemberState[]
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
  /** One channel per worker, in `workerIndex` order, each named after its ring node. */
  readonly manifold: ManifoldHandle
  /** This worker's channel in `manifold`. */
  readonly workerIndex: number
  /** Members of every room (sessions `memberIds(room, membersPerRoom)`); 0: no broadcast. */
  readonly membersPerRoom: number
  /** The fan-out counters (see fanout-stats.ts), one row per worker. */
  readonly counters: BigInt64Array
  /** Store → delivery latency in µs, one histogram shared by every thread (Node's own HDR histogram). */
  readonly latency: RecordableHistogram
}
