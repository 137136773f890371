/**
 * MD5 (RFC 1321) over bytes, without node:crypto: ketama rings hash every key with it, and a
 * `createHash('md5')` object per lookup costs about a microsecond plus garbage, five times this.
 * Checked against node:crypto in the tests. Not for security: ketama only needs MD5's spread.
 */
import { encodeUtf8, scratch } from './utf8.js'

const K = new Int32Array(64)
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0
const S = Uint8Array.of(
  ...[7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22],
  ...[5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20],
  ...[4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23],
  ...[6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21],
)
const W = new Int32Array(16)
const tail = new Uint8Array(128)

/** The digest as four little-endian words A, B, C, D (digest bytes 0–3, 4–7, 8–11, 12–15). */
export const digest = new Int32Array(4)

function block(b: Uint8Array, off: number): void {
  for (let j = 0; j < 16; j++) {
    const i = off + 4 * j
    W[j] = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)
  }
  let a = digest[0]!
  let x = digest[1]!
  let c = digest[2]!
  let d = digest[3]!
  for (let i = 0; i < 64; i++) {
    let f: number
    let g: number
    if (i < 16) {
      f = (x & c) | (~x & d)
      g = i
    } else if (i < 32) {
      f = (d & x) | (~d & c)
      g = (5 * i + 1) & 15
    } else if (i < 48) {
      f = x ^ c ^ d
      g = (3 * i + 5) & 15
    } else {
      f = c ^ (x | ~d)
      g = (7 * i) & 15
    }
    const t = (a + f + K[i]! + W[g]!) | 0
    const s = S[i]!
    a = d
    d = c
    c = x
    x = (x + ((t << s) | (t >>> (32 - s)))) | 0
  }
  digest[0]! += a
  digest[1]! += x
  digest[2]! += c
  digest[3]! += d
}

/** MD5 of the first `len` bytes of `b`, into `digest`. */
export function md5(b: Uint8Array, len: number): Int32Array {
  digest[0] = 0x67452301
  digest[1] = 0xefcdab89 | 0
  digest[2] = 0x98badcfe | 0
  digest[3] = 0x10325476
  let off = 0
  for (; off + 64 <= len; off += 64) block(b, off)
  const rem = len - off
  const end = rem < 56 ? 64 : 128
  tail.fill(0)
  for (let j = 0; j < rem; j++) tail[j] = b[off + j]!
  tail[rem] = 0x80
  const bits = len * 8
  const low = bits % 2 ** 32
  const high = Math.floor(bits / 2 ** 32)
  for (let j = 0; j < 4; j++) {
    tail[end - 8 + j] = (low >>> (8 * j)) & 0xff
    tail[end - 4 + j] = (high >>> (8 * j)) & 0xff
  }
  block(tail, 0)
  if (end === 128) block(tail, 64)
  return digest
}

/** MD5 of the UTF-8 bytes of `s`, into `digest`. */
export function md5String(s: string): Int32Array {
  const len = encodeUtf8(s) // first: it may replace scratch.bytes
  return md5(scratch.bytes, len)
}
