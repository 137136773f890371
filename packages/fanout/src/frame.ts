/*
 * The frame a Manifold writes to one worker's channel: that worker's recipients and the payload once.
 *
 *   bytes                      field
 *    0  Uint32   count         recipients in the frame
 *    4  Uint8    kind          0: numbers (Float64); 1: strings, UTF-8; 2: strings, UTF-16LE
 *    5  Uint8    MAGIC         0xb1, so that a frame some other sender wrote is refused, not misread
 *    8  Uint32   payloadBytes  the encoded message
 *   12  Uint32   textBytes     strings only: the bytes of the joined ids
 *   16  Uint32   groupToken    } a RecipientGroup's identity (0, 0 for a plain array): a receiver that
 *   20  Uint32   groupSerial   } has decoded these exact id bytes before reuses what it decoded
 *   24  the payload
 *    P  (24 + payloadBytes, rounded up to 8) the ids section:
 *       numbers: count Float64
 *       strings: count Uint32 lengths (UTF-16 code units), then every id joined, encoded
 *
 * Strings are joined and encoded once (one write, one decode and `count` slices on the other side,
 * instead of a length-prefixed encode per id). UTF-8 round-trips exactly any well-formed string; a
 * joined string with a lone surrogate takes UTF-16LE, which round-trips any string.
 */
import { ManifoldFrameError } from './errors.js'

export type RecipientId = string | number

const NUMBERS = 0
const UTF8 = 1
const UTF16 = 2
const MAGIC = 0xb1
const HEADER = 24

const align8 = (n: number) => (n + 7) & ~7

/** The ids section for one worker, planned before anything is written so that every size is checked first. */
export interface IdsPlan {
  ids: readonly RecipientId[]
  kind: number
  text: string
  textBytes: number
  /** Bytes of the ids section. */
  bytes: number
}

export function planIds(ids: readonly RecipientId[], numeric: boolean): IdsPlan {
  if (numeric) return { ids, kind: NUMBERS, text: '', textBytes: 0, bytes: 8 * ids.length }
  const text = ids.join('')
  const kind = text.isWellFormed() ? UTF8 : UTF16
  const textBytes = kind === UTF8 ? Buffer.byteLength(text, 'utf8') : 2 * text.length
  return { ids, kind, text, textBytes, bytes: 4 * ids.length + textBytes }
}

/** Bytes of a frame with `payloadBytes` of payload and an ids section of `idsBytes`. */
export function frameBytes(payloadBytes: number, idsBytes: number): number {
  return align8(HEADER + payloadBytes) + idsBytes
}

/** An ids section encoded once, for a RecipientGroup: its bytes and how to label them in a header. */
export interface EncodedIds {
  count: number
  kind: number
  textBytes: number
  section: Uint8Array
}

/** Typed views over one buffer, where ids sections and frames are written. */
class Memory {
  readonly u8: Uint8Array
  readonly u32: Uint32Array
  readonly f64: Float64Array
  readonly text: Buffer

  constructor(readonly buffer: ArrayBuffer) {
    this.u8 = new Uint8Array(buffer)
    this.u32 = new Uint32Array(buffer)
    this.f64 = new Float64Array(buffer)
    this.text = Buffer.from(buffer)
  }

  /** Writes the ids section of `plan` at byte `at` (a multiple of 8). */
  writeIds(plan: IdsPlan, at: number): void {
    const { ids } = plan
    if (plan.kind === NUMBERS) this.f64.set(ids as readonly number[], at >> 3)
    else {
      const u32 = this.u32
      const lengths = at >> 2
      for (let i = 0; i < ids.length; i++) u32[lengths + i] = (ids[i] as string).length
      this.text.write(plan.text, at + 4 * ids.length, plan.textBytes, plan.kind === UTF8 ? 'utf8' : 'utf16le')
    }
  }
}

export function encodeIds(plan: IdsPlan): EncodedIds {
  const memory = new Memory(new ArrayBuffer(align8(plan.bytes)))
  memory.writeIds(plan, 0)
  return {
    count: plan.ids.length,
    kind: plan.kind,
    textBytes: plan.textBytes,
    section: memory.u8.subarray(0, plan.bytes),
  }
}

/** Reusable memory frames are built in before they are written to a channel. */
export class FrameBuilder {
  #memory = new Memory(new ArrayBuffer(0))

  /**
   * The frame for `payload` and the ids (a plan, encoded here, or a group's encoded section): a view
   * of this builder's memory, valid until the next build.
   */
  build(payload: Uint8Array, ids: IdsPlan | EncodedIds, token = 0, serial = 0): Uint8Array {
    const encoded = 'section' in ids
    const idsAt = align8(HEADER + payload.length)
    const bytes = idsAt + (encoded ? ids.section.length : ids.bytes)
    const memory = this.#ensure(bytes)
    const { u8, u32 } = memory
    u32[0] = encoded ? ids.count : ids.ids.length
    u8[4] = ids.kind
    u8[5] = MAGIC
    u32[2] = payload.length
    u32[3] = ids.textBytes
    u32[4] = token
    u32[5] = serial
    u8.set(payload, HEADER)
    if (encoded) u8.set(ids.section, idsAt)
    else memory.writeIds(ids, idsAt)
    return u8.subarray(0, bytes)
  }

  #ensure(bytes: number): Memory {
    if (bytes <= this.#memory.buffer.byteLength) return this.#memory
    let size = Math.max(this.#memory.buffer.byteLength, 4096)
    while (size < bytes) size *= 2
    this.#memory = new Memory(new ArrayBuffer(size))
    return this.#memory
  }
}

function refuse(why: string): never {
  throw new ManifoldFrameError(`not a Manifold frame (${why}); is this channel shared with other senders?`)
}

/** A frame read back: its payload, its ids section, and the group it came from (token 0: none). */
export interface ReadFrame {
  payload: Uint8Array
  section: Uint8Array
  token: number
  serial: number
  decodeIds(): RecipientId[]
}

export function readFrame(frame: Uint8Array): ReadFrame {
  // Typed views need aligned offsets; frames from receive() start at offset 0 of their own buffer.
  const own = frame.byteOffset % 8 === 0 ? frame : frame.slice()
  const { buffer, byteOffset: base } = own
  if (own.length < HEADER || own[5] !== MAGIC) refuse('no header')
  const head = new Uint32Array(buffer, base, 6)
  const count = head[0]!
  const kind = own[4]!
  const payloadBytes = head[2]!
  const textBytes = head[3]!
  const idsAt = align8(HEADER + payloadBytes)
  const expected = idsAt + (kind === NUMBERS ? 8 * count : 4 * count + textBytes)
  if (kind > UTF16 || expected !== own.length) refuse('sizes do not add up')
  return {
    payload: own.subarray(HEADER, HEADER + payloadBytes),
    section: own.subarray(idsAt),
    token: head[4]!,
    serial: head[5]!,
    decodeIds: () => decodeIds(buffer, base + idsAt, count, kind, textBytes),
  }
}

function decodeIds(buffer: ArrayBufferLike, at: number, count: number, kind: number, textBytes: number) {
  if (kind === NUMBERS) return Array.from(new Float64Array(buffer, at, count))
  const lengths = new Uint32Array(buffer, at, count)
  const text = Buffer.from(buffer, at + 4 * count, textBytes).toString(kind === UTF8 ? 'utf8' : 'utf16le')
  const ids: string[] = new Array(count)
  let start = 0
  for (let i = 0; i < count; i++) {
    const end = start + lengths[i]!
    ids[i] = text.slice(start, end)
    start = end
  }
  if (start !== text.length) refuse('id lengths do not add up')
  return ids
}
