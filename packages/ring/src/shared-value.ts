/*
 * FastGlobal for Node: a structured-cloneable value in a SharedArrayBuffer, set by any thread, read by
 * every thread. Memory layout (the double-buffered seqlock of ./layout.ts plus its LOCK words), who
 * writes what, and why each access is Atomics or plain: see ./layout.ts.
 *
 * Readers never wait: get() is one Atomics.load of PUBLISHED while nothing changed, and after a change
 * it copies the bytes out, validates them (seqlock), then decodes the private copy once per thread.
 * Writers serialize on LOCK, held only for the memcpy into the idle buffer: encoding happens before.
 */
import { deserialize, serialize } from 'node:v8'
import { threadId } from 'node:worker_threads'
import {
  checkHandle,
  integerOption,
  MAX_TIMER_MS,
  objectOption,
  type SharedHandle,
  type WatchableWorker,
} from '@beamline/core'
import { DoubleBuffer } from './double-buffer.js'
import { SnapshotTooLargeError, ValueLockTimeoutError, ValueNotCloneableError } from './errors.js'
import { LAYOUT_VERSION, LOCK, LOCK_WAITERS, MAX_CAPACITY, PUBLISHED } from './layout.js'

const HANDLE_KIND = 'beamline.value'
const TOKEN = threadId + 1

export interface SharedValueOptions<T> {
  /** Version 0 of the value. Anything `structuredClone` accepts. Default `undefined`. */
  initial?: T
  /**
   * Largest encoded value (V8 serialization format) in bytes; a bigger `set` throws
   * `ERR_BEAMLINE_SNAPSHOT_TOO_LARGE` and the old value stays. Integer from 1 to 2^30. Default 64 KiB.
   */
  maxBytes?: number
  /**
   * How long `set()` waits for another thread's `set()` before failing with
   * `ERR_BEAMLINE_VALUE_LOCK_TIMEOUT`, in milliseconds. A set holds the lock for a memcpy (microseconds),
   * so only a writer that died mid-set (and was not `watch()`ed) or sits in a debugger makes it expire.
   * Integer from 1 to 2^31 − 1. Default 1000.
   */
  lockTimeoutMs?: number
}

/** Plain data plus the buffer: survives `structuredClone`, so send it through `workerData` or `postMessage`. */
export interface SharedValueHandle extends SharedHandle<typeof HANDLE_KIND> {
  readonly buffer: SharedArrayBuffer
  readonly lockTimeoutMs: number
}

function encode(value: unknown): Uint8Array {
  try {
    return serialize(value)
  } catch (err) {
    throw new ValueNotCloneableError(err)
  }
}

/** Freezes plain objects and arrays all the way down, so that no thread mutates its cached copy by mistake. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value) || ArrayBuffer.isView(value))
    return value
  if (value instanceof Map) {
    for (const [k, v] of value) {
      deepFreeze(k)
      deepFreeze(v)
    }
    return value
  }
  if (value instanceof Set) {
    for (const v of value) deepFreeze(v)
    return value
  }
  Object.freeze(value)
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  return value
}

/** Module-private: what `SharedValue.attach()` hands the constructor. */
class Attach {
  constructor(readonly handle: SharedValueHandle) {}
}

/**
 * A read-mostly value shared by all threads (Discord's FastGlobal, Erlang's persistent_term): `get()`
 * returns the same frozen object while nothing changed, at the cost of one atomic load. Values are
 * encoded with V8's serializer (the structured clone of `postMessage`): Map, Set, Date, BigInt, typed
 * arrays and cycles survive; functions and symbols are refused; class instances arrive as plain objects.
 */
export class SharedValue<T = unknown> {
  readonly handle: SharedValueHandle
  /** The `maxBytes` option. */
  readonly maxBytes: number
  readonly #db: DoubleBuffer
  readonly #header: Uint32Array
  readonly #lock: Int32Array
  readonly #lockTimeoutMs: number
  /** PUBLISHED when #value was decoded; -1 before the first get(). */
  #seen = -1
  #value: T | undefined
  #copy = new Uint8Array(0)

  constructor(options: SharedValueOptions<T> | Attach = {}) {
    if (options instanceof Attach) {
      const { buffer, lockTimeoutMs } = options.handle
      this.#db = DoubleBuffer.attach(HANDLE_KIND, buffer)
      this.#lockTimeoutMs = integerOption('handle.lockTimeoutMs', lockTimeoutMs, 1, MAX_TIMER_MS)
    } else {
      objectOption('options', options, {})
      const maxBytes = integerOption('maxBytes', options.maxBytes, 1, MAX_CAPACITY, 64 << 10)
      this.#lockTimeoutMs = integerOption('lockTimeoutMs', options.lockTimeoutMs, 1, MAX_TIMER_MS, 1000)
      const bytes = encode(options.initial)
      if (bytes.byteLength > maxBytes)
        throw new SnapshotTooLargeError('the initial value', bytes.byteLength, maxBytes)
      this.#db = DoubleBuffer.create(maxBytes, bytes.byteLength, (dst, offset) => dst.set(bytes, offset))
    }
    this.maxBytes = this.#db.maxBytes
    this.#header = this.#db.header
    this.#lock = new Int32Array(this.#db.sab, 0, 32)
    this.handle = {
      kind: HANDLE_KIND,
      version: LAYOUT_VERSION,
      buffer: this.#db.sab,
      lockTimeoutMs: this.#lockTimeoutMs,
    }
  }

  /** The same value, readable and settable from this thread. Throws `ERR_BEAMLINE_INVALID_HANDLE` for anything else. */
  static attach<T = unknown>(handle: SharedValueHandle): SharedValue<T> {
    const h = checkHandle<SharedValueHandle>(handle, HANDLE_KIND, LAYOUT_VERSION)
    return new SharedValue<T>(new Attach(h))
  }

  /**
   * The current value, deeply frozen (plain objects and arrays; Map and Set contents are not frozen).
   * While nothing changed it is the same object as last time, for one Atomics.load; after a change the
   * first call in each thread decodes the new version.
   */
  get(): T {
    if (Atomics.load(this.#header, PUBLISHED) === this.#seen) return this.#value as T
    return this.#refresh()
  }

  /** Publishes changes so far: grows by one per `set`. */
  get version(): number {
    return this.#db.currentVersion()
  }

  /**
   * Publishes `value` for every thread and returns its version. Any thread may set; concurrent sets are
   * serialized, readers are never blocked. A value `structuredClone` cannot encode throws
   * `ERR_BEAMLINE_VALUE_NOT_CLONEABLE`, one larger than `maxBytes` `ERR_BEAMLINE_SNAPSHOT_TOO_LARGE`;
   * either way the old value stays.
   */
  set(value: T): number {
    const bytes = encode(value)
    if (bytes.byteLength > this.maxBytes)
      throw new SnapshotTooLargeError('the value', bytes.byteLength, this.maxBytes)
    this.#acquire()
    try {
      return this.#db.publish(bytes.byteLength, (dst, offset) => dst.set(bytes, offset))
    } finally {
      this.#release(TOKEN)
    }
  }

  /**
   * When `worker` exits, for whatever reason, releases the writers' lock if the worker held it: a
   * worker terminated in the middle of `set()` would otherwise block every later `set()` until
   * `lockTimeoutMs`. Its half-written buffer is never read (see layout.ts).
   */
  watch(worker: WatchableWorker): void {
    const owner = worker.threadId + 1
    if (owner <= 0) return
    worker.once('exit', () => this.#release(owner))
  }

  #refresh(): T {
    const db = this.#db
    for (;;) {
      const p = db.published()
      const b = p & 1
      const length = db.length(b)
      if (this.#copy.byteLength < length)
        this.#copy = new Uint8Array(Math.max(length, this.#copy.byteLength * 2))
      const at = db.dataOffset(b)
      this.#copy.set(db.bytes.subarray(at, at + length))
      if (!db.intact(p)) continue
      // Decoded from a private copy that was validated: V8's deserializer never sees torn bytes.
      const value = deepFreeze(deserialize(this.#copy.subarray(0, length)) as T)
      this.#value = value
      this.#seen = p
      return value
    }
  }

  #acquire(): void {
    const lock = this.#lock
    if (Atomics.compareExchange(lock, LOCK, 0, TOKEN) === 0) return
    const deadline = performance.now() + this.#lockTimeoutMs
    Atomics.add(lock, LOCK_WAITERS, 1)
    try {
      for (;;) {
        const holder = Atomics.compareExchange(lock, LOCK, 0, TOKEN)
        if (holder === 0) return
        const left = deadline - performance.now()
        if (left <= 0) throw new ValueLockTimeoutError(holder - 1, this.#lockTimeoutMs)
        // A release stores 0 before it reads LOCK_WAITERS, and we counted ourselves before this CAS:
        // either the CAS saw 0, or the releaser sees us and notifies (or LOCK differs and wait returns).
        Atomics.wait(lock, LOCK, holder, Math.min(left, 50))
      }
    } finally {
      Atomics.sub(lock, LOCK_WAITERS, 1)
    }
  }

  #release(owner: number): void {
    const lock = this.#lock
    if (Atomics.compareExchange(lock, LOCK, owner, 0) !== owner) return
    if (Atomics.load(lock, LOCK_WAITERS) !== 0) Atomics.notify(lock, LOCK, 1)
  }
}
