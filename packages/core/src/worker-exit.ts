/**
 * Structures that keep per-thread state in shared memory (semaphore permits, mailbox slots, channel
 * reservations) must reclaim the state of a thread that dies, without a call from the user. Node tells
 * the thread that created a Worker: `process` emits 'worker' (on the next tick after `new Worker`, so
 * always before that worker's 'exit'), and the Worker emits 'exit' once its thread has stopped and been
 * joined, which orders every write the dead thread made before the listener runs. The worker's
 * `threadId` reads -1 after it exits, so it is captured when the worker is announced.
 *
 * Only the creating thread hears of a worker: a worker created inside a worker is reported to that
 * worker, and is reclaimed automatically only if that thread uses the structure too (or `watch()`es it).
 *
 * Listeners hold their target weakly: a structure that is garbage collected stops being called and
 * does not stay alive because it once asked to hear of exits.
 */
import type { Worker } from 'node:worker_threads'

/**
 * What a structure's `watch()` needs of a `Worker`: its id and its exit event. Structural, so that a
 * `Worker` of any `node:worker_threads` (or a test's stand-in) fits.
 */
export interface WatchableWorker {
  readonly threadId: number
  once(event: 'exit', listener: (exitCode: number) => void): unknown
}

type Listener<T extends object> = (target: T, threadId: number) => void

interface Entry {
  readonly target: WeakRef<object>
  readonly listener: Listener<object>
}

const entries = new Set<Entry>()
let installed = false

function announce(worker: Worker): void {
  const threadId = worker.threadId
  worker.once('exit', () => notifyExit(threadId))
}

/** Calls every live listener for a thread that has exited; drops listeners whose target is gone. */
function notifyExit(threadId: number): void {
  for (const entry of entries) {
    const target = entry.target.deref()
    if (target === undefined) entries.delete(entry)
    else entry.listener(target, threadId)
  }
}

/**
 * Calls `listener(target, threadId)` after any Worker that this thread creates from now on exits, for
 * as long as `target` is alive. Returns a function that stops it. A listener must not throw: it runs
 * inside Node's 'exit' event, where an exception would be the application's uncaught exception.
 */
export function onWorkerExit<T extends object>(target: T, listener: Listener<T>): () => void {
  if (!installed) {
    process.on('worker', announce)
    installed = true
  }
  const entry: Entry = { target: new WeakRef(target), listener: listener as Listener<object> }
  entries.add(entry)
  return () => {
    entries.delete(entry)
  }
}
