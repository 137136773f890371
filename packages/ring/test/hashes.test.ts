import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { fmix32, xxh32, xxh32String } from '../src/index.js'
import { md5String } from '../src/md5.js'
import { encodeUtf8, scratch } from '../src/utf8.js'

// Published XXH32 vectors (xxHash's sanity checks, python-xxhash, Fastly's digest.hash_xxh32).
const XXH32_VECTORS: [string, number, number][] = [
  ['', 0, 0x02cc5d05],
  ['a', 0, 0x550d7456],
  ['abc', 0, 0x32d153ff],
  ['123456789', 0, 0x937bad67],
  ['123456789012345', 0, 0xda7b17e8],
  ['0123456789abcdef', 0, 0xc2c45b69],
  ['1234567890123456123456789012345', 0, 0xf3556ecf],
  ['0123456789abcdefghijklmnopqrstuvwxyz', 0, 0x9aa38e7e],
  ['Nobody inspects the spammish repetition', 0, 0xe2293b2f],
  ['Nobody inspects the spammish repetition', 123, 0xfa7f6052],
]

test('XXH32 matches the published vectors, from strings and from bytes', () => {
  for (const [input, seed, expected] of XXH32_VECTORS) {
    const bytes = Buffer.from(input)
    assert.equal(xxh32(bytes, bytes.length, seed), expected, `${JSON.stringify(input)} seed ${seed}`)
    if (seed === 0) assert.equal(xxh32String(input), expected, JSON.stringify(input))
  }
})

test('fmix32 is MurmurHash3 x86_32 finalizer: Murmur3("" , seed 1) = fmix32(1) = 0x514e28b7', () => {
  // MurmurHash3_x86_32 of an empty input is fmix32(seed ^ 0).
  assert.equal(fmix32(1), 0x514e28b7)
  assert.equal(fmix32(0), 0)
})

test('the charCodeAt UTF-8 encoder agrees with Buffer, surrogates included', () => {
  const samples = [
    '',
    'ascii',
    'é',
    '€uro',
    '😀',
    'a\ud800b',
    '\udc00',
    'x\ud83d',
    '日本語のキー',
    `${'k'.repeat(1000)}😀`,
  ]
  let seed = 42
  for (let i = 0; i < 300; i++) {
    let s = ''
    for (let j = 0; j < i % 40; j++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      s += String.fromCharCode(seed % 5 === 0 ? 0xd800 + (seed % 2048) : seed % 0x3000)
    }
    samples.push(s)
  }
  for (const s of samples) {
    const len = encodeUtf8(s)
    assert.deepEqual(Buffer.from(scratch.bytes.subarray(0, len)), Buffer.from(s), JSON.stringify(s))
  }
})

test('MD5 agrees with node:crypto across block boundaries and non-ASCII keys', () => {
  for (let n = 0; n < 260; n++) {
    for (const unit of ['q', 'é', '😀']) {
      const s = unit.repeat(n)
      const ref = createHash('md5').update(s).digest()
      const d = md5String(s)
      for (let w = 0; w < 4; w++) assert.equal(d[w], ref.readInt32LE(4 * w), `${unit} × ${n}, word ${w}`)
    }
  }
})

test('xxh32String (ASCII straight from charCodeAt, else UTF-8 bytes) equals XXH32 of Buffer.from(s)', () => {
  const samples: string[] = []
  for (let n = 0; n < 80; n++) {
    const ascii = Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 37 + n) % 95))).join('')
    samples.push(ascii, `${ascii}\x7f`, `${ascii}é`, `é${ascii}`, `${ascii}😀${ascii}`, `${ascii}\u0100`)
  }
  samples.push(`${'k'.repeat(1000)}\ud800`, 'x'.repeat(5000))
  for (const s of samples) {
    const bytes = Buffer.from(s)
    assert.equal(xxh32String(s), xxh32(bytes, bytes.length, 0), JSON.stringify(s))
  }
})
