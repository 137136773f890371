/*
 * The registry every thread shares: one SharedArrayBuffer (layout: ./layout.ts) holding a 64-byte
 * statistics slot per mailbox or observed queue, their names, and per-group totals. This file creates
 * and attaches it and registers queues in it; stats(), top() and snapshot() are one pass over the
 * slots' typed arrays (./registry-scan.ts), without a message to any thread.
 */
import {
  checkHandle,
  checkSharedBuffer,
  functionOption,
  InvalidHandleError,
  InvalidOptionError,
  integerOption,
  nameOption,
  onWorkerExit,
  type SharedHandle,
  type WatchableWorker,
  warnOnce,
} from '@beamline/core'
import { Lanes, type LanesOptions, lanesSettings } from './lanes.js'
import { bytesPerSlot, HANDLE_KIND, LAYOUT_VERSION, MAILBOX, regions } from './layout.js'
import { CREATE, Mailbox } from './mailbox.js'
import { type MailboxOptions, type MailboxStats, mailboxSettings } from './mailbox-options.js'
import { type Observation, type ObserveOptions, Observer } from './observe.js'
import { RegistryScan, type RegistrySnapshot, type RegistryStats } from './registry-scan.js'
import { createBuffer, SlotTable } from './table.js'

export interface MailboxRegistryOptions {
  /**
   * Mailboxes and observed queues that get their own statistics slot, across all threads. Each slot
   * costs 80 + nameBytes bytes of shared memory, allocated up front (144 B with the default
   * nameBytes: 14.4 MB for 100 000). Registrations beyond it still work, counted in their group only
   * (see `overflowNames`). Integer from 1 to 4 194 304. Default 10 000.
   */
  capacity?: number
  /**
   * Distinct groups. Groups are never freed; once all are taken, further groups are counted under
   * `'_other'` (which takes one of them). Each costs 472 B of shared memory, including one aggregate
   * slot for group-only registrations (see `overflowNames`). Integer from 2 to 4096. Default 256.
   */
  maxGroups?: number
  /**
   * Bytes of each name kept in shared memory, for stats() and top() in other threads; longer names
   * are cut at a character boundary and shown ending in '…' there (the owning thread's
   * `mailbox.name` is never cut). Integer from 8 to 200, rounded up to a multiple of 8. Default 64.
   */
  nameBytes?: number
  /** How often (ms) observed queues are sampled. Integer from 10 to 60 000. Default 100. */
  observeIntervalMs?: number
}

/** Options of `MailboxRegistry.attach()`: only what is per thread. */
export type AttachOptions = Pick<MailboxRegistryOptions, 'observeIntervalMs'>

/** Plain data plus the buffer: survives `structuredClone`, so send it through `workerData` or `postMessage`. */
export interface MailboxRegistryHandle extends SharedHandle<typeof HANDLE_KIND> {
  readonly buffer: SharedArrayBuffer
}

const MAX_CAPACITY = 2 ** 22

/** What `attach()` passes to the constructor: a checked handle, never mistaken for options. */
class Attach {
  constructor(
    readonly handle: MailboxRegistryHandle,
    readonly options: AttachOptions | undefined,
  ) {}
}

/**
 * Shared queue statistics for every thread: `new MailboxRegistry()` once, `MailboxRegistry.attach(handle)`
 * in each worker, then `registry.mailbox(name)` anywhere and `registry.stats()` from any thread.
 */
export class MailboxRegistry {
  readonly handle: MailboxRegistryHandle
  readonly #table: SlotTable
  readonly #observer: Observer
  readonly #scan: RegistryScan

  constructor(options?: MailboxRegistryOptions | Attach) {
    let handle: MailboxRegistryHandle
    let observeIntervalMs: number
    if (options instanceof Attach) {
      handle = options.handle
      observeIntervalMs = observeInterval(options.options?.observeIntervalMs)
    } else {
      if (options !== undefined && (typeof options !== 'object' || options === null)) {
        throw new InvalidOptionError('options', 'must be an object')
      }
      const capacity = integerOption('capacity', options?.capacity, 1, MAX_CAPACITY, 10_000)
      const maxGroups = integerOption('maxGroups', options?.maxGroups, 2, 4096, 256)
      const nameBytes = Math.ceil(integerOption('nameBytes', options?.nameBytes, 8, 200, 64) / 8) * 8
      observeIntervalMs = observeInterval(options?.observeIntervalMs)
      handle = {
        kind: HANDLE_KIND,
        version: LAYOUT_VERSION,
        buffer: createBuffer(capacity, maxGroups, nameBytes),
      }
    }
    this.handle = handle
    this.#table = new SlotTable(handle.buffer)
    this.#observer = new Observer(this.#table, observeIntervalMs)
    this.#scan = new RegistryScan(this.#table)
    onWorkerExit(this.#table, reclaim)
  }

  /** The registry created in another thread, from its `handle` (workerData or postMessage). */
  static attach(handle: MailboxRegistryHandle, options?: AttachOptions): MailboxRegistry {
    const h = checkHandle<MailboxRegistryHandle>(handle, HANDLE_KIND, LAYOUT_VERSION)
    const buffer = checkSharedBuffer(HANDLE_KIND, 'buffer', h.buffer, 64)
    const [capacity = 0, maxGroups = 0, nameBytes = 0] = new Int32Array(buffer, 0, 3)
    if (capacity < 1 || maxGroups < 2 || nameBytes < 8) {
      throw new InvalidHandleError(`${HANDLE_KIND} handle: the buffer holds no registry header`)
    }
    checkSharedBuffer(HANDLE_KIND, 'buffer', buffer, regions(capacity, maxGroups, nameBytes).total)
    return new MailboxRegistry(new Attach(h, options))
  }

  /** Slots in the shared buffer. */
  get capacity(): number {
    return this.#table.capacity
  }

  /** Shared bytes per slot (statistics, meta, name), for capacity planning. */
  get bytesPerSlot(): number {
    return bytesPerSlot(this.#table.nameBytes)
  }

  /** A new bounded mailbox. Names need not be unique (e.g. one per session). */
  mailbox<T>(name: string, options?: MailboxOptions<T>): Mailbox<T> {
    nameOption('name', name)
    return new Mailbox<T>(CREATE, this.#table, name, mailboxSettings(options), MAILBOX)
  }

  /** `lanes` mailboxes named `${name}#${i}`, in group `options.group` (default: name), fed by key. */
  lanes<T>(name: string, options: LanesOptions<T>): Lanes<T> {
    nameOption('name', name)
    const { lanes, key } = lanesSettings(options)
    const settings = mailboxSettings(options as MailboxOptions<T>, 'capacityPerLane')
    const group = settings.group ?? name
    const boxes: Mailbox<T>[] = []
    for (let i = 0; i < lanes; i++)
      boxes.push(new Mailbox<T>(CREATE, this.#table, `${name}#${i}`, { ...settings, group }, MAILBOX))
    return new Lanes<T>(name, group, boxes, key)
  }

  /**
   * Samples an external queue's length every `observeIntervalMs` (and once now) into a slot, so it
   * appears in stats() and top() of every thread with zero counters. close() the result to stop.
   */
  observe(name: string, sample: () => number, options?: ObserveOptions): Observation {
    nameOption('name', name)
    if (functionOption('sample', sample) === undefined)
      throw new InvalidOptionError('sample', 'must be a function, got undefined')
    const group = options?.group === undefined ? name : nameOption('group', options.group)
    return this.#observer.add(name, group, sample)
  }

  /** Samples every observed queue of this registry object now, instead of waiting for the timer. */
  sampleObserved(): void {
    this.#observer.sampleAll()
  }

  /** Closes this thread's observations (mailboxes are closed by their owners). */
  close(): void {
    this.#observer.closeAll()
  }

  /**
   * When `worker` exits, for whatever reason, reclaims what its thread left in the registry: its
   * mailboxes, observed queues and group-only registrations stop being counted as live, their queued
   * items are counted in `dropped.abandoned`, their counters stay in their groups' totals, and their
   * slots are reused. Workers this thread creates after the registry object exists are watched
   * already; call it for the others (created before, or by a thread without a registry object).
   * Watching twice, or from several threads, reclaims once.
   */
  watch(worker: WatchableWorker): void {
    const owner = worker.threadId + 1
    if (owner <= 0) return // exited already: its id is gone, so is any way to find its slots
    const table = this.#table
    worker.once('exit', () => reclaim(table, owner - 1))
  }

  /**
   * Totals over every thread's mailboxes and observed queues. One pass over the slot arrays: about
   * 1–2 ms at 100k slots. Exact when the writers are quiescent; while they run, each slot is a
   * snapshot at most one operation old. Every counter (enqueued, dequeued, rejected, dropped.*, in
   * totals and groups) never decreases from one call to the next in a thread, whatever opens, closes
   * or dies meanwhile (see ./layout.ts).
   */
  stats(): RegistryStats {
    return this.#scan.stats()
  }

  /**
   * `stats()` and `top(n)` from one pass over the slots, for exporters that want both every second:
   * about the cost of `stats()` alone. The top rows are read right after the pass.
   */
  snapshot(n: number): RegistrySnapshot {
    return this.#scan.snapshot(n)
  }

  /**
   * The `n` longest non-empty queues with a slot, longest first, across all threads (observer_cli's
   * top view). Observed queues are included with zero counters. Cost: one pass over the slots, the
   * same as `snapshot(n)`.
   */
  top(n: number): MailboxStats[] {
    return this.#scan.snapshot(n).top
  }
}

/** onWorkerExit's listener (and watch's): must not throw, it runs inside Node's 'exit' event. */
function reclaim(table: SlotTable, threadId: number): void {
  try {
    table.folds.reclaim(threadId + 1)
  } catch (error) {
    warnOnce('mailbox:reclaim', `MailboxRegistry: reclaiming exited thread ${threadId} failed`, error)
  }
}

function observeInterval(value: unknown): number {
  return integerOption('observeIntervalMs', value, 10, 60_000, 100)
}
