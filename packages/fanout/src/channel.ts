/*
 * A bounded multi-producer single-consumer channel of byte frames in one SharedArrayBuffer. The
 * shared-memory protocol is in ./frame-ring.ts (layout, writers and invariants: ./layout.ts); this
 * file is the API: options, handles, fail-fast and waiting sends (FIFO per Channel object), the
 * consumer's receive/drain/async iteration, close, statistics and the registry observation.
 */
import {
  checkHandle,
  checkSharedBuffer,
  InvalidHandleError,
  InvalidOptionError,
  integerOption,
  nameOption,
  onWorkerExit,
  optionsObject,
  type SharedHandle,
  timeoutOption,
  WaitQueue,
  type WatchableWorker,
} from '@beamline/core'
import { ChannelAbortedError, ChannelClosedError, ChannelTimeoutError, FrameTooLargeError } from './errors.js'
import { CLOSED, createRingBuffer, FrameRing, FULL, type RingTotals, ringGeometry } from './frame-ring.js'
import {
  HANDLE_KIND,
  HEADER_BYTES,
  LAYOUT_VERSION,
  MAX_CAPACITY_BYTES,
  MIN_CAPACITY_BYTES,
} from './layout.js'

/**
 * What a Channel needs of a registry (`MailboxRegistry` from @beamline/mailbox): `observe()`. Typed
 * structurally so that this package does not depend on the mailbox package.
 */
export interface QueueRegistry {
  observe(name: string, sample: () => number, options?: { group?: string }): { close(): void }
}

export interface ChannelOptions {
  /** Shown in stats(), errors and the registry. Non-empty, at most 200 UTF-8 bytes. */
  name: string
  /**
   * Bytes of the ring: what frames waiting for the consumer may take, each with an 8-byte header and
   * padded to a multiple of 8. A power of two from 64 to 2^30 (1 GiB). The shared buffer is exactly
   * this plus a fixed header (256 bytes + 64 per producer thread). The largest frame is this minus 8.
   */
  capacityBytes: number
  /**
   * Threads that may send at once; each takes a 64-byte slot for its statistics and for the record of
   * a send in progress, freed when a watched thread exits. Integer from 1 to 4096. Default 64.
   */
  maxThreads?: number
  /**
   * A `MailboxRegistry`: the channel appears in it as an observed queue (length: frames sent and not
   * yet received), sampled in this thread until close().
   */
  registry?: QueueRegistry
  /** The registry group. Non-empty, at most 200 UTF-8 bytes. Default: the name. */
  group?: string
}

/** Plain data plus the buffer: survives `structuredClone`, so send it through `workerData` or `postMessage`. */
export interface ChannelHandle extends SharedHandle<typeof HANDLE_KIND> {
  readonly name: string
  readonly buffer: SharedArrayBuffer
}

export interface SendOptions {
  /** Abort the wait: the promise rejects with `ERR_BEAMLINE_CHANNEL_ABORTED` (its `cause` is the signal's reason). */
  signal?: AbortSignal
  /**
   * Milliseconds to wait for room before failing with `ERR_BEAMLINE_CHANNEL_TIMEOUT`; 0 fails at once
   * when full. From 0 to 2 147 483 647 (setTimeout's limit). Default: wait until there is room, the
   * channel closes, or the signal aborts.
   */
  timeoutMs?: number
}

/** One snapshot, summed over every thread. Counters never decrease, and survive the threads that made them. */
export interface ChannelStats extends RingTotals {
  name: string
  capacityBytes: number
}

/** Module-private: what `Channel.attach()` hands the constructor. */
class Attach {
  constructor(readonly handle: ChannelHandle) {}
}

/** What send() returns when the frame was written at once (Manifold tells those apart by identity). */
export const SENT = Promise.resolve()
const noop = () => {}

function capacityOption(value: unknown): number {
  const capacity = integerOption('capacityBytes', value, MIN_CAPACITY_BYTES, MAX_CAPACITY_BYTES)
  if ((capacity & (capacity - 1)) !== 0)
    throw new InvalidOptionError(
      'capacityBytes',
      `must be a power of two from ${MIN_CAPACITY_BYTES} to ${MAX_CAPACITY_BYTES}, got ${capacity}`,
    )
  return capacity
}

function bytesArgument(bytes: unknown): Uint8Array {
  if (!(bytes instanceof Uint8Array))
    throw new InvalidOptionError('bytes', `must be a Uint8Array (or Buffer), got ${typeof bytes}`)
  return bytes
}

/**
 * A bounded channel of byte frames that any number of threads write and one thread reads: `new
 * Channel(...)` in one thread, `Channel.attach(handle)` in the others. Sending is lock-free (one CAS);
 * receiving is wait-free; nothing is structured-cloned.
 */
export class Channel implements AsyncIterable<Uint8Array> {
  readonly name: string
  readonly handle: ChannelHandle
  readonly capacityBytes: number
  /** The largest frame this channel takes: capacityBytes − 8. */
  readonly maxFrameBytes: number
  readonly #ring: FrameRing
  readonly #observation: { close(): void } | undefined
  /** This object's parked send() calls, each holding a copy of its frame; woken through ROOM_SEQ. */
  readonly #senders: WaitQueue<Uint8Array>
  #consumerWaiting = false

  constructor(options: ChannelOptions | Attach) {
    let handle: ChannelHandle
    let observe: (() => { close(): void }) | undefined
    if (options instanceof Attach) handle = options.handle
    else {
      optionsObject(options, 'with name and capacityBytes')
      const name = nameOption('name', options.name)
      const capacityBytes = capacityOption(options.capacityBytes)
      const maxThreads = integerOption('maxThreads', options.maxThreads, 1, 4096, 64)
      const { registry } = options
      if (registry !== undefined && typeof registry?.observe !== 'function')
        throw new InvalidOptionError('registry', 'must be a MailboxRegistry (an object with observe())')
      const group = options.group === undefined ? name : nameOption('group', options.group)
      handle = {
        kind: HANDLE_KIND,
        version: LAYOUT_VERSION,
        name,
        buffer: createRingBuffer(capacityBytes, maxThreads),
      }
      if (registry) observe = () => registry.observe(name, () => this.#ring.queuedFrames(), { group })
    }
    this.name = handle.name
    this.handle = handle
    this.#ring = new FrameRing(handle.buffer)
    this.capacityBytes = this.#ring.capacityBytes
    this.maxFrameBytes = this.capacityBytes - 8
    const ring = this.#ring
    const [words, roomSeq] = ring.roomWord()
    this.#senders = new WaitQueue<Uint8Array>(words, roomSeq, {
      serve: (waiter) => {
        const result = ring.write(waiter.value, this.name)
        if (result === FULL) return false
        this.#senders.settle(waiter, result === CLOSED ? new ChannelClosedError(this.name) : undefined)
        return true
      },
      left: () => ring.addWaiter(-1, this.name),
    })
    this.#observation = observe?.()
    // Workers this thread creates from now on: their slots and consumer role are reclaimed when they exit.
    onWorkerExit(this, (channel, tid) => channel.#ring.reclaim(tid))
  }

  /** The same channel, seen from this thread. Throws `ERR_BEAMLINE_INVALID_HANDLE` for anything else. */
  static attach(handle: ChannelHandle): Channel {
    const h = checkHandle<ChannelHandle>(handle, HANDLE_KIND, LAYOUT_VERSION)
    const buffer = checkSharedBuffer(HANDLE_KIND, 'buffer', h.buffer, HEADER_BYTES)
    if (ringGeometry(buffer) === undefined || typeof h.name !== 'string')
      throw new InvalidHandleError(`${HANDLE_KIND} handle: buffer does not hold a channel`)
    return new Channel(new Attach(h))
  }

  /**
   * Writes the frame if there is room now; never waits. False when full: rejected, counted in `framesRefused`
   * — and also while send() calls of this object wait, so that its frames stay in order. Throws
   * `ERR_BEAMLINE_FRAME_TOO_LARGE` for a frame that can never fit, `ERR_BEAMLINE_CHANNEL_CLOSED` after
   * close().
   */
  trySend(bytes: Uint8Array): boolean {
    bytesArgument(bytes)
    if (bytes.length > this.maxFrameBytes)
      throw new FrameTooLargeError(this.name, bytes.length, this.maxFrameBytes)
    const result = this.#senders.empty ? this.#ring.write(bytes, this.name) : FULL
    if (result === 0) return true
    if (result === CLOSED || this.#ring.closed) throw new ChannelClosedError(this.name)
    this.#ring.countRefused(1, bytes.length, this.name)
    return false
  }

  /**
   * Writes as many of `frames` as fit now, in order, with one reservation for all of them: returns
   * how many were written, always the first ones; never waits. The others are rejected and counted
   * in `framesRefused` (all of them while send() calls of this object wait, as for trySend). For
   * many small frames: one CAS and one check for a parked consumer per call
   * instead of per frame. Checks every frame before writing any: `ERR_BEAMLINE_FRAME_TOO_LARGE` for
   * one that can never fit; `ERR_BEAMLINE_CHANNEL_CLOSED` after close() when it wrote none.
   */
  trySendMany(frames: readonly Uint8Array[]): number {
    if (!Array.isArray(frames))
      throw new InvalidOptionError('frames', `must be an array of Uint8Array, got ${typeof frames}`)
    for (const bytes of frames)
      if (bytesArgument(bytes).length > this.maxFrameBytes)
        throw new FrameTooLargeError(this.name, bytes.length, this.maxFrameBytes)
    if (frames.length === 0) return 0
    const written = this.#senders.empty ? this.#ring.writeMany(frames, this.name) : 0
    if (written === CLOSED || (written === 0 && this.#ring.closed)) throw new ChannelClosedError(this.name)
    if (written < frames.length) {
      let bytes = 0
      for (let i = written; i < frames.length; i++) bytes += frames[i]!.length
      this.#ring.countRefused(frames.length - written, bytes, this.name)
    }
    return written
  }

  /**
   * Writes the frame, waiting (Atomics.waitAsync, no polling) for room if needed; frames of this
   * object are written in the order of the calls. When it must wait it keeps a copy of `bytes`, so the
   * caller may reuse them at once. Rejects with `ERR_BEAMLINE_FRAME_TOO_LARGE`,
   * `ERR_BEAMLINE_CHANNEL_CLOSED` (also for calls waiting when the channel closes),
   * `ERR_BEAMLINE_CHANNEL_TIMEOUT` or `ERR_BEAMLINE_CHANNEL_ABORTED`; a rejected frame was not sent.
   * A waiting send keeps its thread alive.
   */
  send(bytes: Uint8Array, options: SendOptions | null = {}): Promise<void> {
    let timeoutMs: number | undefined
    try {
      bytesArgument(bytes)
      timeoutMs = timeoutOption('timeoutMs', options?.timeoutMs)
      if (bytes.length > this.maxFrameBytes)
        throw new FrameTooLargeError(this.name, bytes.length, this.maxFrameBytes)
    } catch (error) {
      return Promise.reject(error)
    }
    const signal = options?.signal
    if (signal?.aborted) return Promise.reject(new ChannelAbortedError(this.name, signal.reason))
    if (this.#senders.empty) {
      const result = this.#ring.write(bytes, this.name)
      if (result === 0) return SENT
      if (result === CLOSED) return Promise.reject(new ChannelClosedError(this.name))
    }
    if (timeoutMs === 0) {
      this.#ring.countTimedOut(this.name)
      return Promise.reject(new ChannelTimeoutError(this.name, 0))
    }
    this.#ring.addWaiter(1, this.name)
    // A copy: Buffer's slice() would be a view.
    return this.#senders.park(new Uint8Array(bytes), {
      timeoutMs,
      onTimeout: () => {
        this.#ring.countTimedOut(this.name)
        return new ChannelTimeoutError(this.name, timeoutMs!)
      },
      signal,
      onAbort: () => new ChannelAbortedError(this.name, signal!.reason),
    })
  }

  /**
   * The next frame (a copy the caller owns), or undefined if none is ready now; never waits. Makes
   * this thread the channel's consumer (`ERR_BEAMLINE_CHANNEL_CONSUMER_TAKEN` if another live thread
   * is).
   */
  receive(): Uint8Array | undefined {
    this.#ring.claimConsumer(this.name)
    return this.#ring.next()
  }

  /**
   * Up to `max` frames ready now (default: all), in order; never waits. Consumer only, as receive().
   * The frames are copied out together, into one new (non-shared) ArrayBuffer, each a view of its
   * own part of it: one allocation and one copy per call. Keeping one frame keeps that buffer: copy
   * (`slice()`) a frame to hold it long apart from the others.
   */
  drain(max = Number.MAX_SAFE_INTEGER): Uint8Array[] {
    integerOption('max', max, 1, Number.MAX_SAFE_INTEGER)
    this.#ring.claimConsumer(this.name)
    return this.#ring.drain(max)
  }

  /**
   * Every frame, waiting (Atomics.waitAsync) when none is ready; ends once the channel is closed and
   * every frame sent before the close has been yielded. Breaking out of the loop loses nothing: a
   * frame is taken from the channel only when it is yielded. Consumer only, as receive().
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    this.#ring.claimConsumer(this.name)
    return {
      next: () => {
        // A frame ready now needs no async function: one promise, not three.
        const frame = this.#ring.next()
        return frame === undefined ? this.#nextFrame() : Promise.resolve({ done: false, value: frame })
      },
      return: () => {
        this.#stopWaiting()
        return Promise.resolve({ done: true, value: undefined })
      },
    }
  }

  /**
   * Stops accepting frames, in every thread: trySend throws and send rejects with
   * `ERR_BEAMLINE_CHANNEL_CLOSED`, and so do send() calls parked for room. Frames sent before stay
   * readable; the consumer's iteration ends after the last of them. Ends the registry observation.
   */
  close(): void {
    this.#ring.close()
    this.#observation?.close()
  }

  get closed(): boolean {
    return this.#ring.closed
  }

  /**
   * When `worker` exits, for whatever reason, frees its producer slot (keeping its statistics),
   * forgets its parked sends, lets the consumer skip a frame it died writing, and, if it was the
   * consumer, lets another thread take over. Workers created by a thread that holds this channel are
   * watched already; watch() the others.
   */
  watch(worker: WatchableWorker): void {
    const tid = worker.threadId
    if (tid < 0) return // exited already: its id, and so its slot, are gone
    worker.once('exit', () => this.#ring.reclaim(tid))
  }

  stats(): ChannelStats {
    return { name: this.name, capacityBytes: this.capacityBytes, ...this.#ring.totals() }
  }

  async #nextFrame(): Promise<IteratorResult<Uint8Array>> {
    const ring = this.#ring
    for (;;) {
      const frame = ring.next()
      if (frame !== undefined) return { done: false, value: frame }
      if (ring.ended()) return { done: true, value: undefined }
      const wait = ring.waitForData()
      if (wait === undefined) continue
      this.#consumerWaiting = true
      // Ref'd while the consumer waits: a pending waitAsync alone does not keep Node alive.
      const keepAlive = setInterval(noop, 2 ** 30)
      try {
        await wait
      } finally {
        this.#consumerWaiting = false
        clearInterval(keepAlive)
      }
    }
  }

  #stopWaiting(): void {
    if (this.#consumerWaiting) this.#ring.unpark()
  }
}
