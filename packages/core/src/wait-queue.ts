/*
 * The callers of one thread parked on a shared structure until it has room for them: a semaphore's
 * acquire() waiting for permits, a channel's send() waiting for bytes. Promises cannot cross threads,
 * so each object keeps its own queue, in plain (unshared) memory, FIFO; other threads only move a
 * shared sequence word (an Int32 the structure bumps and `Atomics.notify`s when room frees) that the
 * queue waits on with `Atomics.waitAsync`, never polling.
 *
 * Invariants: a waiter leaves the queue exactly once (served, timed out, aborted, or rejected by
 * `serve`), and `left()` is called once for it, so the structure's shared count of parked callers
 * never drifts; the thread is kept alive while the queue is non-empty and not after.
 */

/** The links of an intrusive doubly linked list node. */
export interface Linked<W> {
  prev: W | undefined
  next: W | undefined
}

/**
 * An intrusive doubly linked list: O(1) push at the tail and removal of any node, no allocation per
 * operation (the nodes are the waiters themselves). The one list of every beamline wait queue
 * (`WaitQueue` below, `@beamline/limit`'s partition lanes).
 */
export class WaiterList<W extends Linked<W>> {
  head: W | undefined = undefined
  tail: W | undefined = undefined
  length = 0

  push(node: W): void {
    node.prev = this.tail
    node.next = undefined
    if (this.tail) this.tail.next = node
    else this.head = node
    this.tail = node
    this.length++
  }

  /** Unlinks `node`, which must be in this list. */
  remove(node: W): void {
    if (node.prev) node.prev.next = node.next
    else this.head = node.next
    if (node.next) node.next.prev = node.prev
    else this.tail = node.prev
    node.prev = node.next = undefined
    this.length--
  }
}

/** One parked caller: what it waits for (`value`), its promise's settlers, its deadline and signal. */
export class Waiter<T> implements Linked<Waiter<T>> {
  prev: Waiter<T> | undefined = undefined
  next: Waiter<T> | undefined = undefined
  timer: NodeJS.Timeout | undefined = undefined
  onAbort: (() => void) | undefined = undefined

  constructor(
    readonly value: T,
    readonly resolve: () => void,
    readonly reject: (reason: unknown) => void,
    readonly signal: AbortSignal | undefined,
  ) {}
}

/** What the structure does for its queue. */
export interface WaitQueueHooks<T> {
  /**
   * Tries to serve the head waiter now. Returns false when it must keep waiting (no room); otherwise
   * settles it with `queue.settle(waiter, reason)` (reason undefined: served) and returns true.
   */
  serve(waiter: Waiter<T>): boolean
  /** A waiter left the queue, whichever way: the structure takes it out of its shared counts. */
  left(): void
}

export interface ParkOptions {
  /** Milliseconds before `onTimeout`; undefined: no deadline. */
  readonly timeoutMs: number | undefined
  /** Counts the timeout if the structure does, and returns the rejection reason. */
  readonly onTimeout: () => unknown
  readonly signal: AbortSignal | undefined
  /** Counts the abort if the structure does, and returns the rejection reason. */
  readonly onAbort: () => unknown
}

const noop = () => {}

/** A FIFO of parked callers served from the head whenever the shared sequence word moves. */
export class WaitQueue<T> {
  readonly #list = new WaiterList<Waiter<T>>()
  readonly #words: Int32Array
  readonly #seq: number
  readonly #hooks: WaitQueueHooks<T>
  /** True while an Atomics.waitAsync on the sequence word is pending for this queue. */
  #armed = false
  /** Ref'd while callers are parked: a pending waitAsync alone does not keep Node's event loop alive. */
  #keepAlive: NodeJS.Timeout | undefined

  /** `words[seq]`: the sequence word that other threads bump (and notify) when room frees. */
  constructor(words: Int32Array, seq: number, hooks: WaitQueueHooks<T>) {
    this.#words = words
    this.#seq = seq
    this.#hooks = hooks
  }

  /** True when nobody is parked here: a newcomer may take room directly without overtaking anyone. */
  get empty(): boolean {
    return this.#list.head === undefined
  }

  get length(): number {
    return this.#list.length
  }

  /**
   * Parks a caller at the tail and tries to serve the queue at once. The caller has already counted
   * it as parked in shared memory; `hooks.left()` undoes that when it leaves.
   */
  park(value: T, options: ParkOptions): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    const waiter = new Waiter(value, resolve, reject, options.signal)
    this.#list.push(waiter)
    const { timeoutMs, signal } = options
    if (timeoutMs !== undefined) {
      waiter.timer = setTimeout(() => this.#cancel(waiter, options.onTimeout()), timeoutMs)
    }
    if (signal) {
      waiter.onAbort = () => this.#cancel(waiter, options.onAbort())
      signal.addEventListener('abort', waiter.onAbort, { once: true })
    }
    this.#keepAlive ??= setInterval(noop, 2 ** 30)
    this.pump()
    return promise
  }

  /** Serves waiters in order while the structure has room; otherwise makes sure a wake-up is armed. */
  pump(): void {
    const list = this.#list
    const hooks = this.#hooks
    for (;;) {
      // Read the sequence word before trying, so room freed between the try and the wait changes it
      // and waitAsync returns at once ('not-equal') instead of sleeping through it.
      const seq = Atomics.load(this.#words, this.#seq)
      for (let head = list.head; head !== undefined && hooks.serve(head); head = list.head) {}
      if (list.head === undefined || this.#armed) return
      const result = Atomics.waitAsync(this.#words, this.#seq, seq)
      if (result.async) {
        this.#armed = true
        result.value.then(this.#onWake, noop)
        return
      }
    }
  }

  /** Unparks `waiter`: resolves it (reason undefined) or rejects it with `reason`. */
  settle(waiter: Waiter<T>, reason?: unknown): void {
    this.#list.remove(waiter)
    this.#hooks.left()
    if (waiter.timer) clearTimeout(waiter.timer)
    if (waiter.onAbort) waiter.signal!.removeEventListener('abort', waiter.onAbort)
    if (this.#list.head === undefined && this.#keepAlive) {
      clearInterval(this.#keepAlive)
      this.#keepAlive = undefined
    }
    if (reason === undefined) waiter.resolve()
    else waiter.reject(reason)
  }

  readonly #onWake = (): void => {
    this.#armed = false
    this.pump()
  }

  /** A waiter stops waiting without being served (deadline or abort). */
  #cancel(waiter: Waiter<T>, reason: unknown): void {
    this.settle(waiter, reason)
    // The cancelled waiter may have been the head asking for more than is free; those behind it may fit.
    this.pump()
  }
}
