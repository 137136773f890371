/*
 * The reader's side of the fold protocol (layout and argument: ./layout.ts): a scan announces itself
 * in a reader word before it reads the groups' folded totals, so that no slot folded after it began is
 * claimed again until it ends; claimers ask `graceOver` before re-claiming a RETIRED slot.
 */
import { threadId } from 'node:worker_threads'
import {
  COUNTERS,
  GROUP_COUNT,
  PUBLISHED,
  R_OWNER,
  R_SINCE,
  READERS,
  readTotal,
  SCAN_EPOCH,
  SCANNERS,
  STARTED,
  TOTALS,
  UNLISTED_SCANS,
} from './layout.js'
import type { SlotTable } from './table.js'

const OWNER_ID = threadId + 1
/** Returned by beginScan when every reader word was taken. */
const UNLISTED = -1

/** Announces a scan; returns the reader word to give back to endScan. */
export function beginScan(table: SlotTable): number {
  const i32 = table.i32
  for (let n = 0; n < READERS; n++) {
    const word = (OWNER_ID + n) % READERS
    const r = table.readerIndex(word)
    if (Atomics.load(i32, r + R_OWNER) !== 0 || Atomics.compareExchange(i32, r + R_OWNER, 0, OWNER_ID) !== 0)
      continue
    Atomics.add(i32, SCANNERS, 1)
    let since = (Atomics.add(i32, SCAN_EPOCH, 1) + 1) | 0
    // 0 means "no epoch drawn yet" in a reader word.
    if (since === 0) since = (Atomics.add(i32, SCAN_EPOCH, 1) + 1) | 0
    Atomics.store(i32, r + R_SINCE, since)
    return word
  }
  Atomics.add(i32, UNLISTED_SCANS, 1)
  return UNLISTED
}

export function endScan(table: SlotTable, word: number): void {
  const i32 = table.i32
  if (word === UNLISTED) {
    Atomics.sub(i32, UNLISTED_SCANS, 1)
    return
  }
  const r = table.readerIndex(word)
  Atomics.store(i32, r + R_SINCE, 0)
  Atomics.sub(i32, SCANNERS, 1)
  Atomics.store(i32, r + R_OWNER, 0)
}

/**
 * Whether a slot whose fold loaded RETIRE_EPOCH `epoch` may be claimed again: no scan that began before
 * that fold was published is still running.
 */
export function graceOver(table: SlotTable, epoch: number): boolean {
  const i32 = table.i32
  if (Atomics.load(i32, UNLISTED_SCANS) !== 0) return false
  if (Atomics.load(i32, SCANNERS) === 0) return true
  for (let word = 0; word < READERS; word++) {
    const r = table.readerIndex(word)
    if (Atomics.load(i32, r + R_OWNER) === 0) continue
    const since = Atomics.load(i32, r + R_SINCE)
    if (since !== 0 && ((epoch - since) | 0) >= 0) return false
  }
  return true
}

/**
 * For the scan holding reader word `word`, right after beginScan: an epoch such that a slot whose fold
 * loaded a RETIRE_EPOCH e older than it (wrap-aware) is needed by no scan running or to come (this
 * one's R_SINCE, or an older one's), so the scan may free it; NaN when no slot may be freed (this scan
 * has no word, or one that has none is running).
 */
export function freeBelow(table: SlotTable, word: number): number {
  const i32 = table.i32
  if (word === UNLISTED || Atomics.load(i32, UNLISTED_SCANS) !== 0) return Number.NaN
  let below = Atomics.load(i32, table.readerIndex(word) + R_SINCE)
  for (let other = 0; other < READERS; other++) {
    const r = table.readerIndex(other)
    if (other === word || Atomics.load(i32, r + R_OWNER) === 0) continue
    // A word without an epoch yet belongs to a scan that reads the totals after this one's: see graceOver.
    const since = Atomics.load(i32, r + R_SINCE)
    if (since !== 0 && ((since - below) | 0) < 0) below = since
  }
  return below
}

/** Frees the reader word of a dead thread, if it held one (called by the reclaim of that thread). */
export function releaseReader(table: SlotTable, owner: number): void {
  const i32 = table.i32
  for (let word = 0; word < READERS; word++) {
    const r = table.readerIndex(word)
    if (Atomics.load(i32, r + R_OWNER) !== owner) continue
    if (Atomics.compareExchange(i32, r + R_OWNER, owner, -1) !== owner) continue
    if (Atomics.load(i32, r + R_SINCE) !== 0) {
      Atomics.store(i32, r + R_SINCE, 0)
      Atomics.sub(i32, SCANNERS, 1)
    }
    Atomics.store(i32, r + R_OWNER, 0)
  }
}

/**
 * Step (b) of a scan: each published group's folded totals, consistent with its version. Fills
 * `versions[g]` and `totals[g·COUNTERS + k]` for g < the returned group count, and zeroes both beyond
 * it (a group published later has no fold this scan may skip).
 */
export function readTotals(table: SlotTable, versions: Int32Array, totals: Float64Array): number {
  const i32 = table.i32
  const groups = Atomics.load(i32, GROUP_COUNT)
  for (let g = 0; g < groups; g++) {
    const gi = table.groupIndex(g)
    const t = g * COUNTERS
    for (;;) {
      const version = Atomics.load(i32, gi + PUBLISHED)
      const b = gi + TOTALS + (version & 1) * 2 * COUNTERS
      for (let k = 0; k < COUNTERS; k++) totals[t + k] = readTotal(i32, b + 2 * k)
      if (((Atomics.load(i32, gi + STARTED) - version) | 0) < 2) {
        versions[g] = version
        break
      }
    }
  }
  versions.fill(0, groups)
  totals.fill(0, groups * COUNTERS)
  return groups
}
