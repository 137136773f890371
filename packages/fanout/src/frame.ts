/*
 * The frame a Manifold writes to one worker's channel: that worker's recipients and the payload once.
 *
 *   bytes                      field
 *    0  Uint32   count         recipients in the frame
 *    4  Uint8    kind          0: numbers (Float64); 1: strings, UTF-8; 2: strings, UTF-16LE
 *    5  Uint8    MAGIC         0xb1, so that a frame some other sender wrote is refused, not misread
 *    8  Uint32   payloadBytes  the encoded message
 *   12  Uint32   textBytes     strings only: the bytes of the joined ids
 *   16  the payload
 *    P  (16 + payloadBytes, rounded up to 8) the ids:
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
const HEADER = 16

const align8 = (n: number) => (n + 7) & ~7

/** What one frame will hold, computed before anything is written so that every size is checked first. */
export interface FramePlan {
  ids: readonly RecipientId[]
  kind: number
  text: string
  textBytes: number
  bytes: number
}

export function planFrame(ids: readonly RecipientId[], numeric: boolean, payloadBytes: number): FramePlan {
  const idsAt = align8(HEADER + payloadBytes)
  if (numeric) return { ids, kind: NUMBERS, text: '', textBytes: 0, bytes: idsAt + 8 * ids.length }
  const text = ids.join('')
  const kind = text.isWellFormed() ? UTF8 : UTF16
  const textBytes = kind === UTF8 ? Buffer.byteLength(text, 'utf8') : 2 * text.length
  return { ids, kind, text, textBytes, bytes: idsAt + 4 * ids.length + textBytes }
}

/** Reusable memory frames are built in before they are written to a channel. */
export class FrameBuilder {
  #buffer = new ArrayBuffer(0)
  #u8 = new Uint8Array(0)
  #u32 = new Uint32Array(0)
  #f64 = new Float64Array(0)
  #text = Buffer.alloc(0)

  /** The frame for `plan` with `payload`: a view of this builder's memory, valid until the next build. */
  build(plan: FramePlan, payload: Uint8Array): Uint8Array {
    this.#ensure(plan.bytes)
    const u32 = this.#u32
    const { ids } = plan
    const count = ids.length
    u32[0] = count
    this.#u8[4] = plan.kind
    this.#u8[5] = MAGIC
    u32[2] = payload.length
    u32[3] = plan.textBytes
    this.#u8.set(payload, HEADER)
    const idsAt = align8(HEADER + payload.length)
    if (plan.kind === NUMBERS) this.#f64.set(ids as readonly number[], idsAt >> 3)
    else {
      const lengths = idsAt >> 2
      for (let i = 0; i < count; i++) u32[lengths + i] = (ids[i] as string).length
      this.#text.write(plan.text, idsAt + 4 * count, plan.textBytes, plan.kind === UTF8 ? 'utf8' : 'utf16le')
    }
    return this.#u8.subarray(0, plan.bytes)
  }

  #ensure(bytes: number): void {
    if (bytes <= this.#buffer.byteLength) return
    let size = Math.max(this.#buffer.byteLength, 4096)
    while (size < bytes) size *= 2
    this.#buffer = new ArrayBuffer(size)
    this.#u8 = new Uint8Array(this.#buffer)
    this.#u32 = new Uint32Array(this.#buffer)
    this.#f64 = new Float64Array(this.#buffer)
    this.#text = Buffer.from(this.#buffer)
  }
}

function refuse(why: string): never {
  throw new ManifoldFrameError(`not a Manifold frame (${why}); is this channel shared with other senders?`)
}

/** The recipients and the payload of a frame read from a channel. */
export function readFrame(frame: Uint8Array): { ids: RecipientId[]; payload: Uint8Array } {
  // Typed views need aligned offsets; frames from receive() start at offset 0 of their own buffer.
  const own = frame.byteOffset % 8 === 0 ? frame : frame.slice()
  const { buffer, byteOffset: base } = own
  if (own.length < HEADER || own[5] !== MAGIC) refuse('no header')
  const head = new Uint32Array(buffer, base, 4)
  const count = head[0]!
  const kind = own[4]!
  const payloadBytes = head[2]!
  const textBytes = head[3]!
  const idsAt = align8(HEADER + payloadBytes)
  const expected = idsAt + (kind === NUMBERS ? 8 * count : 4 * count + textBytes)
  if (kind > UTF16 || expected !== own.length) refuse('sizes do not add up')
  const payload = own.subarray(HEADER, HEADER + payloadBytes)
  if (kind === NUMBERS) return { ids: Array.from(new Float64Array(buffer, base + idsAt, count)), payload }
  const lengths = new Uint32Array(buffer, base + idsAt, count)
  const text = Buffer.from(buffer, base + idsAt + 4 * count, textBytes).toString(
    kind === UTF8 ? 'utf8' : 'utf16le',
  )
  const ids: string[] = new Array(count)
  let at = 0
  for (let i = 0; i < count; i++) {
    const end = at + lengths[i]!
    ids[i] = text.slice(at, end)
    at = end
  }
  if (at !== text.length) refuse('id lengths do not add up')
  return { ids, payload }
}
