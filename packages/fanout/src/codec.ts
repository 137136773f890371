/**
 * How a Manifold turns a message into the bytes it writes once per frame, and back in each worker.
 * JSON and raw bytes are built in; any `{ encode, decode }` works (msgpackr, protobuf, …).
 */
import { InvalidOptionError } from '@beamline/core'

export interface Codec<M> {
  encode(message: M): Uint8Array
  /**
   * `bytes` is the frame's own (non-shared) memory, valid for as long as the decoder keeps it; it
   * also holds the recipient ids, so copy it to keep a small part of it for long.
   */
  decode(bytes: Uint8Array): M
}

export type CodecName = 'json' | 'bytes'

/** JSON.stringify as UTF-8, and JSON.parse. `undefined` (and functions, symbols) cannot be encoded. */
export const jsonCodec: Codec<unknown> = {
  encode(message) {
    const text = JSON.stringify(message)
    if (text === undefined)
      throw new InvalidOptionError('message', `the json codec cannot encode ${typeof message}`)
    return Buffer.from(text, 'utf8')
  },
  decode(bytes) {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  },
}

/** The message is a Uint8Array, sent as it is; each worker gets its own copy. */
export const bytesCodec: Codec<Uint8Array> = {
  encode(message) {
    if (!(message instanceof Uint8Array))
      throw new InvalidOptionError('message', `the bytes codec sends a Uint8Array, got ${typeof message}`)
    return message
  },
  decode(bytes) {
    return bytes.slice()
  },
}

export function codecOption<M>(value: unknown): { codec: Codec<M>; name: CodecName | 'custom' } {
  if (value === undefined || value === 'json') return { codec: jsonCodec as Codec<M>, name: 'json' }
  if (value === 'bytes') return { codec: bytesCodec as Codec<M>, name: 'bytes' }
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Codec<M>).encode === 'function' &&
    typeof (value as Codec<M>).decode === 'function'
  )
    return { codec: value as Codec<M>, name: 'custom' }
  throw new InvalidOptionError('codec', "must be 'json', 'bytes', or an object with encode() and decode()")
}
