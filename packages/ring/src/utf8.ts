/**
 * UTF-8 encoding straight from `charCodeAt` into a per-thread scratch buffer, for the hashes. This is
 * what `Buffer.from(s)` / `TextEncoder` produce (a lone surrogate becomes U+FFFD, EF BF BD) without
 * their ≈400 ns of call overhead and allocation per key.
 */
export const scratch = { bytes: new Uint8Array(256) }

/** Encodes `s` into `scratch.bytes` (growing it if needed) and returns the byte length. */
export function encodeUtf8(s: string): number {
  const n = s.length
  // At most 3 bytes per UTF-16 unit: a surrogate pair (2 units) takes 4.
  if (n * 3 > scratch.bytes.length) scratch.bytes = new Uint8Array(n * 3 + 256)
  const b = scratch.bytes
  let j = 0
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) {
      b[j++] = c
    } else if (c < 0x800) {
      b[j++] = 0xc0 | (c >> 6)
      b[j++] = 0x80 | (c & 0x3f)
    } else if (c < 0xd800 || c >= 0xe000) {
      b[j++] = 0xe0 | (c >> 12)
      b[j++] = 0x80 | ((c >> 6) & 0x3f)
      b[j++] = 0x80 | (c & 0x3f)
    } else {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0
      if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
        const cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000
        b[j++] = 0xf0 | (cp >> 18)
        b[j++] = 0x80 | ((cp >> 12) & 0x3f)
        b[j++] = 0x80 | ((cp >> 6) & 0x3f)
        b[j++] = 0x80 | (cp & 0x3f)
        i++
      } else {
        b[j++] = 0xef
        b[j++] = 0xbf
        b[j++] = 0xbd
      }
    }
  }
  return j
}
