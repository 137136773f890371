/**
 * Partitioned mailboxes (WhatsApp's "separate queues per destination"): each item goes to the lane
 * its key hashes to, so one slow destination fills only its own lane and only its own lane refuses or
 * sheds. Taking is round-robin across lanes, one item per non-empty lane per turn, and consume() runs
 * one consumer per lane, so a stalled handler blocks only its lane.
 */
import { functionOption, InvalidOptionError, integerOption } from '@beamline/core'
import { type BatchHandler, type ConsumeOptions, type Consumer, consumeSettings } from './consumer.js'
import { MailboxClosedError } from './errors.js'
import type { Mailbox } from './mailbox.js'
import type { DropCounts, MailboxOptions, MailboxStats } from './mailbox-options.js'

export interface LanesOptions<T> extends Omit<MailboxOptions<T>, 'capacity'> {
  /** Number of lanes. Integer from 1 to 1024. Default 8. */
  lanes?: number
  /**
   * The partition key of an item: items with equal keys go to the same lane, in order. Integers map
   * to `key mod lanes`; anything else is hashed (FNV-1a of its string form). Required.
   */
  key: (item: T) => string | number
  /** Capacity of each lane, as `capacity` for a mailbox. Integer from 1 to 2^30. Default 10 000. */
  capacityPerLane?: number
}

export interface LanesStats {
  name: string
  group: string
  /** Items queued over all lanes. */
  length: number
  /** Length of the longest lane. */
  longest: number
  enqueued: number
  dequeued: number
  rejected: number
  dropped: DropCounts
  /** One entry per lane, in lane order. */
  lanes: MailboxStats[]
}

export const MAX_LANES = 1024

export function lanesSettings<T>(options: LanesOptions<T> | undefined): {
  lanes: number
  key: (item: T) => string | number
} {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object with key')
  const key = functionOption<(item: T) => string | number>('key', options.key)
  if (key === undefined) throw new InvalidOptionError('key', 'must be a function, got undefined')
  return { lanes: integerOption('lanes', options.lanes, 1, MAX_LANES, 8), key }
}

/** Lane of `key` among `n` lanes. */
export function laneOf(key: string | number, n: number): number {
  if (typeof key === 'number' && Number.isSafeInteger(key)) return ((key % n) + n) % n
  const s = String(key)
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return (h >>> 0) % n
}

/** Create with `registry.lanes(name, options)`. `lanes[i]` is lane i, a Mailbox named `${name}#${i}`. */
export class Lanes<T> {
  readonly [lane: number]: Mailbox<T>
  readonly name: string
  readonly group: string
  /** The lanes, in order (also reachable as `lanes[i]`). */
  readonly mailboxes: readonly Mailbox<T>[]
  readonly #key: (item: T) => string | number
  #next = 0
  #closed = false

  /** @internal */
  constructor(name: string, group: string, mailboxes: Mailbox<T>[], key: (item: T) => string | number) {
    this.name = name
    this.group = group
    this.mailboxes = mailboxes
    this.#key = key
    for (let i = 0; i < mailboxes.length; i++) (this as unknown as Mailbox<T>[])[i] = mailboxes[i]!
  }

  /** Number of lanes. */
  get count(): number {
    return this.mailboxes.length
  }

  /** Items queued over all lanes. */
  get length(): number {
    let n = 0
    for (const mb of this.mailboxes) n += mb.length
    return n
  }

  get closed(): boolean {
    return this.#closed
  }

  /** The lane an item goes to. */
  laneOf(item: T): number {
    return laneOf(this.#key(item), this.mailboxes.length)
  }

  /** Pushes into the item's lane; false when that lane is full and refuses (see Mailbox.push). */
  push(item: T): boolean {
    if (this.#closed) throw new MailboxClosedError(this.name)
    return this.mailboxes[this.laneOf(item)]!.push(item)
  }

  /** The next item, round-robin over non-empty lanes; undefined when every lane is empty. */
  shift(): T | undefined {
    const boxes = this.mailboxes
    const n = boxes.length
    for (let k = 0; k < n; k++) {
      const i = (this.#next + k) % n
      const mb = boxes[i]!
      if (mb.length === 0) continue
      const item = mb.shift()
      if (item === undefined && mb.length === 0) continue
      this.#next = (i + 1) % n
      return item
    }
    return undefined
  }

  /** Removes every queued item, in round-robin order. */
  drain(): T[] {
    const out: T[] = []
    for (let taken = true; taken; ) {
      taken = false
      for (const mb of this.mailboxes) {
        const one = mb.take(1)
        if (one.length === 1) {
          out.push(one[0]!)
          taken = true
        }
      }
    }
    return out
  }

  /** Closes every lane (see Mailbox.close). */
  close(): void {
    this.#closed = true
    for (const mb of this.mailboxes) mb.close()
  }

  stats(): LanesStats {
    const lanes = this.mailboxes.map((mb) => mb.stats())
    const sum = (pick: (s: MailboxStats) => number) => lanes.reduce((acc, s) => acc + pick(s), 0)
    return {
      name: this.name,
      group: this.group,
      length: sum((s) => s.length),
      longest: lanes.reduce((max, s) => Math.max(max, s.length), 0),
      enqueued: sum((s) => s.enqueued),
      dequeued: sum((s) => s.dequeued),
      rejected: sum((s) => s.rejected),
      dropped: {
        overflow: sum((s) => s.dropped.overflow),
        expired: sum((s) => s.dropped.expired),
        abandoned: sum((s) => s.dropped.abandoned),
      },
      lanes,
    }
  }

  /**
   * One consumer per lane, each with these options (so `concurrency` is per lane): a handler stalled
   * on one lane's items holds back only that lane.
   */
  consume(handler: BatchHandler<T>, options?: ConsumeOptions<T>): Consumer {
    if (typeof handler !== 'function') throw new InvalidOptionError('handler', 'must be a function')
    consumeSettings(options)
    return new LanesConsumer(this.mailboxes.map((mb) => mb.consume(handler, options)))
  }
}

class LanesConsumer implements Consumer {
  readonly done: Promise<void>
  readonly #parts: Consumer[]

  constructor(parts: Consumer[]) {
    this.#parts = parts
    this.done = Promise.all(parts.map((p) => p.done)).then(() => {})
  }

  get inFlight(): number {
    return this.#parts.reduce((n, p) => n + p.inFlight, 0)
  }

  async stop(): Promise<void> {
    await Promise.all(this.#parts.map((p) => p.stop()))
  }
}
