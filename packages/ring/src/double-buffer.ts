/*
 * The double-buffered seqlock shared by SharedSnapshot, SharedValue and HashRing. Memory layout, who
 * writes what, and why each access is Atomics or plain: see ./layout.ts; the memory ordering of the
 * two primitives used here: @beamline/core's seqlock.ts.
 */
import { checkSharedBuffer, InvalidHandleError, loadAfterReads, storeBeforeWrites } from '@beamline/core'
import {
  bufferBytes,
  bufferOffset,
  CAPACITY,
  capacityFor,
  LENGTH_OFFSET,
  MAX_BYTES,
  META_BYTES,
  PUBLISHED,
  STARTED,
  VERSION_OFFSET,
} from './layout.js'

/** Fills `bytes` from byte `offset` on with the new version's data. */
export type Fill = (bytes: Uint8Array, offset: number) => void

export class DoubleBuffer {
  readonly sab: SharedArrayBuffer
  readonly header: Uint32Array
  /** Usable bytes per buffer (≥ maxBytes, a multiple of 8 so that typed views inside stay aligned). */
  readonly capacity: number
  readonly maxBytes: number
  /** The whole SharedArrayBuffer. */
  readonly bytes: Uint8Array
  readonly #u32: Uint32Array
  readonly #f64: Float64Array

  private constructor(sab: SharedArrayBuffer) {
    this.sab = sab
    this.header = new Uint32Array(sab, 0, 32)
    this.capacity = this.header[CAPACITY]!
    this.maxBytes = this.header[MAX_BYTES]!
    this.bytes = new Uint8Array(sab)
    this.#u32 = new Uint32Array(sab)
    this.#f64 = new Float64Array(sab)
  }

  /** A new structure whose version 0 is `length` bytes written by `fill` (before any other thread can see it). */
  static create(maxBytes: number, length: number, fill: Fill): DoubleBuffer {
    const capacity = capacityFor(maxBytes)
    const sab = new SharedArrayBuffer(bufferBytes(capacity))
    const header = new Uint32Array(sab, 0, 32)
    header[CAPACITY] = capacity
    header[MAX_BYTES] = maxBytes
    const db = new DoubleBuffer(sab)
    fill(db.bytes, db.dataOffset(0))
    db.#setMeta(0, length, 0)
    return db
  }

  /** The structure behind a handle's buffer; `kind` names the handle in errors. */
  static attach(kind: string, value: unknown): DoubleBuffer {
    const sab = checkSharedBuffer(kind, 'buffer', value, bufferBytes(0))
    const header = new Uint32Array(sab, 0, 32)
    const capacity = header[CAPACITY]!
    if (capacity % 8 !== 0 || sab.byteLength !== bufferBytes(capacity) || header[MAX_BYTES]! > capacity) {
      throw new InvalidHandleError(`${kind} handle: buffer does not hold a beamline snapshot`)
    }
    return new DoubleBuffer(sab)
  }

  dataOffset(b: number): number {
    return bufferOffset(this.capacity, b) + META_BYTES
  }

  /** Reader step 1: the current publish number; its data is in buffer `p & 1`. */
  published(): number {
    return Atomics.load(this.header, PUBLISHED)
  }

  /** LENGTH of buffer `b`, clamped so that a torn value can never make a view throw. */
  length(b: number): number {
    return Math.min(this.#u32[(bufferOffset(this.capacity, b) + LENGTH_OFFSET) >> 2]!, this.capacity)
  }

  version(b: number): number {
    return this.#f64[(bufferOffset(this.capacity, b) + VERSION_OFFSET) >> 3]!
  }

  /** Reader steps 2–3: true iff buffer `p & 1` still held publish `p` while the caller read it. */
  intact(p: number): boolean {
    return (loadAfterReads(this.header, STARTED) - p) >>> 0 < 2
  }

  /**
   * The readers' fast path (layout.ts, reader step 3'): true iff no publish has begun since publish `p`,
   * which this thread saw complete earlier. Then `p` is still the current version and everything read
   * from its buffer since is exactly it; one Atomics.load, without loading PUBLISHED first.
   */
  unchanged(p: number): boolean {
    return loadAfterReads(this.header, STARTED) === p
  }

  /** The current version number, read consistently. */
  currentVersion(): number {
    for (;;) {
      const p = this.published()
      const version = this.version(p & 1)
      if (this.intact(p)) return version
    }
  }

  /**
   * Writes the next version (`length` bytes, by `fill`) into the idle buffer and publishes it; returns
   * its version number. The caller guarantees that no other thread publishes meanwhile.
   */
  publish(length: number, fill: Fill): number {
    const header = this.header
    const p = Atomics.load(header, PUBLISHED)
    const n = (p + 1) >>> 0
    const version = this.version(p & 1) + 1
    storeBeforeWrites(header, STARTED, n)
    fill(this.bytes, this.dataOffset(n & 1))
    this.#setMeta(n & 1, length, version)
    Atomics.store(header, PUBLISHED, n)
    return version
  }

  #setMeta(b: number, length: number, version: number): void {
    const at = bufferOffset(this.capacity, b)
    this.#u32[(at + LENGTH_OFFSET) >> 2] = length
    this.#f64[(at + VERSION_OFFSET) >> 3] = version
  }
}
