/*
 * Bytes published by one writer and read by any thread without locks or copies. Memory layout
 * (a double-buffered seqlock), writers, and why each access is Atomics or plain: see ./layout.ts.
 */
import {
  checkHandle,
  InvalidOptionError,
  integerOption,
  objectOption,
  ReadOnlyError,
  type SharedHandle,
} from '@beamline/core'
import { DoubleBuffer } from './double-buffer.js'
import { SnapshotTooLargeError } from './errors.js'
import { LAYOUT_VERSION, MAX_CAPACITY } from './layout.js'

const HANDLE_KIND = 'beamline.snapshot'

export interface SharedSnapshotOptions {
  /**
   * Largest snapshot in bytes; a bigger `publish` throws `ERR_BEAMLINE_SNAPSHOT_TOO_LARGE` and leaves
   * the current version published. Two buffers of this size are reserved (the OS commits pages only as
   * they are first written). Integer from 1 to 2^30. Default 1 MiB.
   */
  maxBytes?: number
}

/** Plain data plus the buffer: survives `structuredClone`, so send it through `workerData` or `postMessage`. */
export interface SharedSnapshotHandle extends SharedHandle<typeof HANDLE_KIND> {
  readonly buffer: SharedArrayBuffer
}

/** Module-private: what `SharedSnapshot.attach()` hands the constructor (a read-only view). */
class Attach {
  constructor(readonly db: DoubleBuffer) {}
}

/**
 * A byte snapshot with one writer and any number of reader threads. Readers never lock and never see
 * half of an update; the writer never waits for readers. Version 0 is empty.
 */
export class SharedSnapshot {
  readonly handle: SharedSnapshotHandle
  /** The `maxBytes` option. */
  readonly maxBytes: number
  readonly #db: DoubleBuffer
  readonly #writable: boolean
  /** Per buffer, the last view handed out: reused while the length is unchanged, so read() allocates nothing. */
  readonly #views: [Uint8Array, Uint8Array]

  constructor(options: SharedSnapshotOptions | Attach = {}) {
    if (options instanceof Attach) {
      this.#db = options.db
      this.#writable = false
    } else {
      objectOption('options', options, {})
      const maxBytes = integerOption('maxBytes', options.maxBytes, 1, MAX_CAPACITY, 1 << 20)
      this.#db = DoubleBuffer.create(maxBytes, 0, () => {})
      this.#writable = true
    }
    this.maxBytes = this.#db.maxBytes
    this.handle = { kind: HANDLE_KIND, version: LAYOUT_VERSION, buffer: this.#db.sab }
    const { sab } = this.#db
    this.#views = [
      new Uint8Array(sab, this.#db.dataOffset(0), 0),
      new Uint8Array(sab, this.#db.dataOffset(1), 0),
    ]
  }

  /** The same snapshot, read-only, seen from this thread. Throws `ERR_BEAMLINE_INVALID_HANDLE` for anything else. */
  static attach(handle: SharedSnapshotHandle): SharedSnapshot {
    const h = checkHandle<SharedSnapshotHandle>(handle, HANDLE_KIND, LAYOUT_VERSION)
    return new SharedSnapshot(new Attach(DoubleBuffer.attach(HANDLE_KIND, h.buffer)))
  }

  /** Number of publishes since construction (0 before the first). */
  get version(): number {
    return this.#db.currentVersion()
  }

  /**
   * Publishes a copy of `bytes` as the next version and returns its number. Only the thread that
   * created the snapshot may publish (`ERR_BEAMLINE_READ_ONLY` elsewhere). Larger than `maxBytes`:
   * `ERR_BEAMLINE_SNAPSHOT_TOO_LARGE`, nothing published.
   */
  publish(bytes: Uint8Array): number {
    if (!(bytes instanceof Uint8Array)) throw new InvalidOptionError('bytes', 'must be a Uint8Array')
    return this.publishWith(bytes.byteLength, (view) => view.set(bytes))
  }

  /**
   * Publishes the next version by letting `fill` write its `byteLength` bytes in place, without an
   * intermediate copy. `fill` gets a view of the idle buffer holding stale bytes: it must write all of
   * them, and must not keep the view. If `fill` throws, nothing is published.
   */
  publishWith(byteLength: number, fill: (view: Uint8Array) => void): number {
    if (!this.#writable)
      throw new ReadOnlyError(
        'SharedSnapshot: an attached snapshot is read-only; publish from the thread that created it',
      )
    integerOption('byteLength', byteLength, 0, Number.MAX_SAFE_INTEGER)
    if (byteLength > this.maxBytes) throw new SnapshotTooLargeError('the snapshot', byteLength, this.maxBytes)
    return this.#db.publish(byteLength, (bytes, offset) => fill(bytes.subarray(offset, offset + byteLength)))
  }

  /**
   * Runs `fn` over a consistent view of the current version and returns its result. If a publish raced
   * the read, `fn` runs again on the newer version, so keep it pure: compute from the view, copy what
   * you keep, and do side effects after `read` returns. The view is valid only during `fn`. An
   * exception from `fn` propagates only if its view was consistent (one from torn bytes is retried).
   */
  read<T>(fn: (view: Uint8Array, version: number) => T): T {
    const db = this.#db
    for (;;) {
      const p = db.published()
      const b = p & 1
      const length = db.length(b)
      const version = db.version(b)
      let view = this.#views[b]
      if (view.byteLength !== length) view = this.#views[b] = new Uint8Array(db.sab, db.dataOffset(b), length)
      let result: T
      try {
        result = fn(view, version)
      } catch (err) {
        if (db.intact(p)) throw err
        continue
      }
      if (db.intact(p)) return result
    }
  }
}
