/**
 * XXH32 (Yann Collet's xxHash, 32-bit, https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md)
 * and the MurmurHash3 32-bit finalizer: the portable hashes of the 'default' ring. Another language
 * computes the same ring with any XXH32 library; test vectors are in the README and the tests.
 */
import { encodeUtf8, scratch } from './utf8.js'

const P1 = 0x9e3779b1
const P2 = 0x85ebca77
const P3 = 0xc2b2ae3d
const P4 = 0x27d4eb2f
const P5 = 0x165667b1

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r))
}

function read32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)
}

function round(acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, P2)) | 0, 13), P1)
}

function avalanche(h: number): number {
  h ^= h >>> 15
  h = Math.imul(h, P2)
  h ^= h >>> 13
  h = Math.imul(h, P3)
  h ^= h >>> 16
  return h >>> 0
}

/** XXH32 of the first `len` bytes of `b` with `seed` (uint32). */
export function xxh32(b: Uint8Array, len: number, seed = 0): number {
  let i = 0
  let h: number
  if (len >= 16) {
    let v1 = (seed + P1 + P2) | 0
    let v2 = (seed + P2) | 0
    let v3 = seed | 0
    let v4 = (seed - P1) | 0
    const limit = len - 16
    do {
      v1 = round(v1, read32(b, i))
      v2 = round(v2, read32(b, i + 4))
      v3 = round(v3, read32(b, i + 8))
      v4 = round(v4, read32(b, i + 12))
      i += 16
    } while (i <= limit)
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0
  } else {
    h = (seed + P5) | 0
  }
  h = (h + len) | 0
  for (; i + 4 <= len; i += 4) h = Math.imul(rotl((h + Math.imul(read32(b, i), P3)) | 0, 17), P4)
  for (; i < len; i++) h = Math.imul(rotl((h + Math.imul(b[i]!, P5)) | 0, 11), P1)
  return avalanche(h)
}

/**
 * XXH32, seed 0, of the UTF-8 bytes of `s`. ASCII strings (the usual keys) are hashed straight from
 * `charCodeAt`: for them UTF-16 units are the UTF-8 bytes, so nothing is copied or allocated. If any
 * unit turns out to be ≥ 0x80 the string is encoded and hashed again as bytes (a non-ASCII key pays
 * about one extra hash). The four lanes are spelled out: through a helper returning "word or -1" the
 * 20-character case measured 1.5× slower.
 */
export function xxh32String(s: string): number {
  const len = s.length
  let i = 0
  let high = 0 // OR of every unit seen: ≥ 0x80 means not ASCII
  let h: number
  if (len >= 16) {
    let v1 = (P1 + P2) | 0
    let v2 = P2 | 0
    let v3 = 0
    let v4 = -P1 | 0
    const limit = len - 16
    do {
      let a = s.charCodeAt(i)
      let b = s.charCodeAt(i + 1)
      let c = s.charCodeAt(i + 2)
      let d = s.charCodeAt(i + 3)
      high |= a | b | c | d
      v1 = round(v1, a | (b << 8) | (c << 16) | (d << 24))
      a = s.charCodeAt(i + 4)
      b = s.charCodeAt(i + 5)
      c = s.charCodeAt(i + 6)
      d = s.charCodeAt(i + 7)
      high |= a | b | c | d
      v2 = round(v2, a | (b << 8) | (c << 16) | (d << 24))
      a = s.charCodeAt(i + 8)
      b = s.charCodeAt(i + 9)
      c = s.charCodeAt(i + 10)
      d = s.charCodeAt(i + 11)
      high |= a | b | c | d
      v3 = round(v3, a | (b << 8) | (c << 16) | (d << 24))
      a = s.charCodeAt(i + 12)
      b = s.charCodeAt(i + 13)
      c = s.charCodeAt(i + 14)
      d = s.charCodeAt(i + 15)
      high |= a | b | c | d
      v4 = round(v4, a | (b << 8) | (c << 16) | (d << 24))
      i += 16
    } while (i <= limit)
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0
  } else {
    h = P5
  }
  h = (h + len) | 0
  for (; i + 4 <= len; i += 4) {
    const a = s.charCodeAt(i)
    const b = s.charCodeAt(i + 1)
    const c = s.charCodeAt(i + 2)
    const d = s.charCodeAt(i + 3)
    high |= a | b | c | d
    h = Math.imul(rotl((h + Math.imul(a | (b << 8) | (c << 16) | (d << 24), P3)) | 0, 17), P4)
  }
  for (; i < len; i++) {
    const a = s.charCodeAt(i)
    high |= a
    h = Math.imul(rotl((h + Math.imul(a, P5)) | 0, 11), P1)
  }
  if (high < 0x80) return avalanche(h)
  const bytes = encodeUtf8(s) // before reading scratch.bytes, which it may replace
  return xxh32(scratch.bytes, bytes, 0)
}

/** XXH32, seed 0, of the 4 little-endian bytes of the uint32 `n` (the general function, specialised). */
export function xxh32Uint32(n: number): number {
  return avalanche(Math.imul(rotl((P5 + 4 + Math.imul(n, P3)) | 0, 17), P4))
}

/** MurmurHash3's 32-bit finalizer (fmix32): a bijection that spreads every input bit over the output. */
export function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
