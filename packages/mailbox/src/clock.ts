/**
 * A coarse clock for enqueue timestamps, in milliseconds since the epoch (`performance.timeOrigin +
 * performance.now()`, so values from different threads compare). Reading the precise clock costs
 * 70–130 ns on virtualised machines (a clock_gettime syscall), more than the whole push+shift it would
 * time. Like nginx's cached time (`ngx_time_update` once per event-loop iteration), the value is read
 * once and reused until the current synchronous run of JavaScript ends (a microtask invalidates it)
 * or 1024 reads have been served, whichever comes first. So all items pushed in one synchronous burst
 * share a timestamp: ages are accurate to the length of that burst, and only ever under-estimated.
 */
const origin = performance.timeOrigin
const REUSES = 1024

let cached = 0
let budget = 0
let invalidating = false

function invalidate(): void {
  budget = 0
  invalidating = false
}

function refresh(): number {
  cached = origin + performance.now()
  budget = REUSES
  if (!invalidating) {
    invalidating = true
    queueMicrotask(invalidate)
  }
  return cached
}

/** Current time, coarse as described above. */
export function coarseNow(): number {
  return budget-- > 0 ? cached : refresh()
}

/** Current time, precise: for ages reported by stats(). */
export function preciseNow(): number {
  return origin + performance.now()
}
