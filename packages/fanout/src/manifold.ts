/*
 * Discord's Manifold for worker threads. send() groups the recipients by the worker that owns them
 * (a HashRing, or a function), encodes the message once, and writes one frame per owning worker —
 * that worker's recipients and the payload — to its Channel: the sender's cost grows with the number
 * of workers, not of recipients, and nothing is structured-cloned. In each worker, receive() decodes
 * the frames of its own channel and calls the handler once per frame.
 *
 * Order: a recipient's frames all go through its owner's channel, written by this Manifold's Channel
 * object, whose frames reach the consumer in the order written (FIFO for sends that wait, one CAS per
 * reservation). So every recipient sees the sends of one Manifold object in the order they were
 * made, as long as its owner does not change in between.
 */
import {
  checkHandle,
  functionOption,
  InvalidOptionError,
  integerOption,
  type SharedHandle,
} from '@beamline/core'
import { Channel, type ChannelHandle, SENT, type SendOptions } from './channel.js'
import { type Codec, type CodecName, codecOption } from './codec.js'
import { FrameTooLargeError, ManifoldOwnerError } from './errors.js'
import {
  type EncodedIds,
  encodeIds,
  FrameBuilder,
  frameBytes,
  type IdsPlan,
  planIds,
  type RecipientId,
  readFrame,
} from './frame.js'

export type { RecipientId } from './frame.js'

const HANDLE_KIND = 'beamline.manifold'
const HANDLE_VERSION = 1
const RESOLVED = Promise.resolve()
const noop = () => {}
/** Decoded id lists a receiver keeps, per group seen last (a room is sent to again and again). */
const RECEIVER_GROUPS = 64

/**
 * Recipients grouped by owner and encoded once, by `manifold.group(ids)`, for sending to the same
 * list again and again (a room's members): send() then does no per-recipient work at all, and
 * receivers that decoded the same ids before reuse them. Immutable: make a new group when the list
 * changes. With a ring, a group is regrouped at the next send after the ring's version changed.
 */
export class RecipientGroup<Id extends RecipientId = RecipientId> {
  constructor(
    /** The recipients, as given (a copy). */
    readonly ids: readonly Id[],
  ) {}

  get size(): number {
    return this.ids.length
  }
}

/** What a group holds for its Manifold, out of the users' reach. */
interface GroupState {
  owner: object
  serial: number
  version: number
  sections: (EncodedIds | undefined)[]
}

/**
 * The last id array send() was given, copied, with each id's owner: the next send compares its ids
 * with these one by one (~2 ns each, against ~50 ns for a cached owner), reuses the owner of every id
 * at the same place, and, when all are the same, sends the ids encoded at the first repeat, as a
 * group's (receivers then reuse what they decoded, after comparing the bytes).
 */
interface LastSend<Id> {
  ids: readonly Id[]
  owners: Int32Array
  version: number
  group: GroupState | undefined
}
const NONE: readonly never[] = []
const groupStates = new WeakMap<RecipientGroup, GroupState>()

/** What a Manifold needs of a `HashRing` (@beamline/ring), typed structurally: `get()` and `version`. */
export interface OwnerRing {
  get(key: string): string
  readonly version: number
}

/** A ring whose node ids are the channels' names, or `(id) => index in channels`. */
export type Owners<Id extends RecipientId> = OwnerRing | ((id: Id) => number)

export interface ManifoldOptions<M, Id extends RecipientId = RecipientId> {
  /** One channel per worker; with a ring, each node id must be the name of exactly one of them. */
  channels: readonly Channel[]
  /** Who owns a recipient. Needed to send; a receive-only Manifold may leave it out. */
  owners?: Owners<Id>
  /** `'json'` (default), `'bytes'` (the message is a Uint8Array), or any `{ encode, decode }`. */
  codec?: CodecName | Codec<M>
  /** This thread's index in `channels`: the channel receive() consumes. Integer from 0 to channels.length − 1. */
  workerIndex?: number
  /**
   * With a ring: owners remembered per recipient, so that a room sent to again and again is not
   * hashed every time (ring.get costs ~130 ns, ×30 000 recipients ≈ 4 ms). Cleared whenever the ring's
   * version changes and when it reaches this size. Also the longest id array whose grouping send()
   * remembers for the next send (see send()). Integer from 0 (no cache) to 2^24. Default 100 000.
   */
  ownerCacheSize?: number
}

/** Plain data plus the channels' buffers: send it to workers through `workerData` or `postMessage`. */
export interface ManifoldHandle extends SharedHandle<typeof HANDLE_KIND> {
  readonly channels: readonly ChannelHandle[]
  /** The codec's name; `'custom'` codecs must be passed to attach() again. */
  readonly codec: CodecName | 'custom'
}

/** attach() takes what cannot cross threads: functions, rings, custom codecs, and which worker this is. */
export type ManifoldAttachOptions<M, Id extends RecipientId = RecipientId> = Omit<
  ManifoldOptions<M, Id>,
  'channels' | 'codec'
> & { codec?: Codec<M> }

function isRing(value: unknown): value is OwnerRing {
  return typeof value === 'object' && value !== null && typeof (value as OwnerRing).get === 'function'
}

export class Manifold<M = unknown, Id extends RecipientId = RecipientId> {
  readonly handle: ManifoldHandle
  readonly #channels: readonly Channel[]
  readonly #codec: Codec<M>
  readonly #ring: OwnerRing | undefined
  readonly #owner: ((id: Id) => number) | undefined
  readonly #workerIndex: number | undefined
  /** Channel index by name, for ring node ids. */
  readonly #byName = new Map<string, number>()
  readonly #cache = new Map<Id, number>()
  readonly #cacheSize: number
  #cacheVersion = -1
  /** Recipients per channel, reused by every send. */
  readonly #groups: Id[][]
  /** Owner (index in channels) of each id of the array being grouped, reused by every send. */
  #ownerOf = new Int32Array(0)
  #last: LastSend<Id> | undefined
  readonly #builder = new FrameBuilder()
  /** Tells this Manifold's groups apart from other senders' in the frames (never 0). */
  readonly #token = (Math.random() * 0xffffffff) >>> 0 || 1
  #serial = 0
  readonly #seenGroups = new Map<string, { section: Uint8Array; ids: readonly RecipientId[] }>()

  constructor(options: ManifoldOptions<M, Id>) {
    if (typeof options !== 'object' || options === null)
      throw new InvalidOptionError('options', 'must be an object with channels')
    const { channels, owners } = options
    if (!Array.isArray(channels) || channels.length === 0 || !channels.every((c) => c instanceof Channel))
      throw new InvalidOptionError('channels', 'must be a non-empty array of Channel objects')
    this.#channels = [...channels]
    const { codec, name } = codecOption<M>(options.codec)
    this.#codec = codec
    if (owners === undefined || isRing(owners)) this.#ring = owners
    else this.#owner = functionOption<(id: Id) => number>('owners', owners)
    if (this.#ring) {
      this.#channels.forEach((channel, index) => {
        if (this.#byName.has(channel.name))
          throw new InvalidOptionError(
            'channels',
            `two channels are named ${JSON.stringify(channel.name)}; with a ring, each node id names one channel`,
          )
        this.#byName.set(channel.name, index)
      })
    }
    this.#workerIndex =
      options.workerIndex === undefined
        ? undefined
        : integerOption('workerIndex', options.workerIndex, 0, channels.length - 1)
    this.#cacheSize = integerOption('ownerCacheSize', options.ownerCacheSize, 0, 2 ** 24, 100_000)
    this.#groups = this.#channels.map(() => [])
    this.handle = {
      kind: HANDLE_KIND,
      version: HANDLE_VERSION,
      channels: this.#channels.map((c) => c.handle),
      codec: name,
    }
  }

  /**
   * The same Manifold in a worker: the channels attached, the codec by name (a custom codec must be
   * passed again), `owners` if this thread sends too, `workerIndex` if it receives.
   */
  static attach<M = unknown, Id extends RecipientId = RecipientId>(
    handle: ManifoldHandle,
    options: ManifoldAttachOptions<M, Id> = {},
  ): Manifold<M, Id> {
    const h = checkHandle<ManifoldHandle>(handle, HANDLE_KIND, HANDLE_VERSION)
    if (!Array.isArray(h.channels)) throw new InvalidOptionError('handle', 'has no channels')
    if (h.codec === 'custom' && options.codec === undefined)
      throw new InvalidOptionError('codec', 'this Manifold uses a custom codec: pass it to attach() too')
    return new Manifold<M, Id>({
      ...options,
      channels: h.channels.map((c) => Channel.attach(c)),
      codec: options.codec ?? (h.codec === 'custom' ? undefined : h.codec),
    })
  }

  /**
   * Groups `recipientIds` by owner and encodes them once, for many sends to the same recipients
   * (see RecipientGroup). Throws on bad ids or owners, as send() would reject.
   */
  group(recipientIds: readonly Id[]): RecipientGroup<Id> {
    const group = new RecipientGroup<Id>(Object.freeze([...this.#ids(recipientIds)]))
    groupStates.set(group, { owner: this, serial: 0, version: -1, sections: [] })
    this.#regroup(group, groupStates.get(group)!)
    return group
  }

  /**
   * Sends `message` to every recipient: one frame per worker that owns some of them. `recipients` is
   * an array of ids (all strings or all numbers; an id listed twice is delivered twice) or a group
   * from group(). Resolves when every frame is written, at once unless a channel is full (then it
   * waits for room, as Channel.send, with the same options). Nothing is written when the ids, owners,
   * codec or a frame's size are wrong; a rejection from a channel (closed, timeout, aborted) leaves
   * the frames of the other workers delivered.
   *
   * With a ring, the last array sent (up to ownerCacheSize ids) is remembered: sending the same ids
   * again — the same array or any array holding equal ids in the same order — costs a comparison per
   * id instead of an owner lookup, and from the second repeat on no encoding either, as a group.
   */
  send(recipients: readonly Id[] | RecipientGroup<Id>, message: M, options?: SendOptions): Promise<void> {
    const frames: (IdsPlan | EncodedIds | undefined)[] = []
    let payload: Uint8Array
    let serial = 0
    try {
      let group: GroupState | undefined
      if (recipients instanceof RecipientGroup) {
        group = groupStates.get(recipients)
        if (group?.owner !== this)
          throw new InvalidOptionError('recipients', 'is a group made by another Manifold')
        if (this.#ring !== undefined && this.#ring.version !== group.version) this.#regroup(recipients, group)
        serial = group.serial
      } else if (this.#ids(recipients).length === 0) return RESOLVED
      payload = this.#codec.encode(message)
      if (!(payload instanceof Uint8Array))
        throw new InvalidOptionError('codec', 'encode() must return a Uint8Array')
      if (group === undefined) {
        const ids = recipients as readonly Id[]
        group = this.#repeat(ids)
        if (group !== undefined) serial = group.serial
        else {
          const numeric = typeof ids[0] === 'number'
          for (const list of this.#groups) frames.push(list.length === 0 ? undefined : planIds(list, numeric))
        }
      }
      if (group !== undefined) frames.push(...group.sections)
      frames.forEach((ids, i) => {
        if (ids === undefined) return
        const channel = this.#channels[i]!
        const bytes = frameBytes(payload.length, 'section' in ids ? ids.section.length : ids.bytes)
        if (bytes > channel.maxFrameBytes)
          throw new FrameTooLargeError(channel.name, bytes, channel.maxFrameBytes)
      })
    } catch (error) {
      return Promise.reject(error)
    }
    let pending: Promise<void>[] | undefined
    for (let i = 0; i < frames.length; i++) {
      const ids = frames[i]
      if (ids === undefined) continue
      // Channel.send copies the frame if it has to wait, so the builder's memory can be reused.
      const frame = this.#builder.build(payload, ids, serial === 0 ? 0 : this.#token, serial)
      const written = this.#channels[i]!.send(frame, options)
      if (written !== SENT) (pending ??= []).push(written)
    }
    return pending === undefined ? RESOLVED : Promise.all(pending).then(noop)
  }

  /**
   * Consumes this worker's channel (`workerIndex`): calls `handler(recipientIds, message)` once per
   * frame, in order, waiting when there is none. `recipientIds` is read-only: for a group it is the
   * same frozen array each time the same ids arrive. Resolves when the channel is closed and drained;
   * rejects with the handler's error (the frames after it stay in the channel). Keeps the thread alive.
   */
  async receive(handler: (recipientIds: readonly Id[], message: M) => void): Promise<void> {
    if (functionOption('handler', handler) === undefined)
      throw new InvalidOptionError('handler', 'must be a function, got undefined')
    if (this.#workerIndex === undefined)
      throw new InvalidOptionError('workerIndex', "receive() needs this thread's index in channels")
    const codec = this.#codec
    const seen = this.#seenGroups
    for await (const frame of this.#channels[this.#workerIndex]!) {
      const read = readFrame(frame)
      let ids: readonly RecipientId[]
      if (read.token === 0) ids = read.decodeIds()
      else {
        const key = `${read.token}:${read.serial}`
        const known = seen.get(key)
        // The same group, and byte for byte the same ids: what was decoded then is what is here now.
        if (known !== undefined && Buffer.compare(known.section, read.section) === 0) ids = known.ids
        else {
          ids = Object.freeze(read.decodeIds())
          seen.delete(key)
          if (seen.size >= RECEIVER_GROUPS) seen.delete(seen.keys().next().value!)
          seen.set(key, { section: read.section, ids })
        }
      }
      handler(ids as readonly Id[], codec.decode(read.payload))
    }
  }

  #ids(recipients: readonly Id[]): readonly Id[] {
    if (!Array.isArray(recipients))
      throw new InvalidOptionError('recipientIds', `must be an array, got ${typeof recipients}`)
    return recipients
  }

  /** Groups and encodes `group`'s ids for the current owners. */
  #regroup(group: RecipientGroup<Id>, state: GroupState): void {
    state.version = this.#ring?.version ?? 0
    state.sections = group.ids.length > 0 ? this.#sections(this.#group(group.ids)) : []
    state.serial = this.#nextSerial()
  }

  #nextSerial(): number {
    this.#serial = (this.#serial + 1) >>> 0 || 1
    return this.#serial
  }

  /** Each channel's ids encoded, from #groups. */
  #sections(numeric: boolean): (EncodedIds | undefined)[] {
    return this.#groups.map((list) => (list.length === 0 ? undefined : encodeIds(planIds(list, numeric))))
  }

  /**
   * Finds the owners of `ids`: the group to send if they are the last array sent again (encoded at
   * its first repeat), else undefined with #groups filled, remembering `ids` for the next send.
   */
  #repeat(ids: readonly Id[]): GroupState | undefined {
    const same = this.#findOwners(ids)
    const last = this.#last
    if (same && last !== undefined) {
      if (last.group === undefined) {
        this.#fill(ids)
        last.group = {
          owner: this,
          serial: this.#nextSerial(),
          version: last.version,
          sections: this.#sections(typeof ids[0] === 'number'),
        }
      }
      return last.group
    }
    this.#fill(ids)
    if (this.#ring !== undefined && ids.length <= this.#cacheSize)
      this.#last = {
        ids: ids.slice(),
        owners: this.#ownerOf.slice(0, ids.length),
        version: this.#cacheVersion,
        group: undefined,
      }
    return undefined
  }

  /** Fills #groups with the recipients of each channel; returns whether the ids are numbers. */
  #group(ids: readonly Id[]): boolean {
    this.#findOwners(ids)
    this.#fill(ids)
    return typeof ids[0] === 'number'
  }

  #fill(ids: readonly Id[]): void {
    const groups = this.#groups
    for (const group of groups) group.length = 0
    const ownerOf = this.#ownerOf
    for (let i = 0; i < ids.length; i++) groups[ownerOf[i]!]!.push(ids[i]!)
  }

  /**
   * Writes the owner of each id into #ownerOf, checking ids and owners; returns whether `ids` holds
   * exactly the ids of the last array sent (with a ring, for the same ring version).
   */
  #findOwners(ids: readonly Id[]): boolean {
    const n = ids.length
    if (this.#ownerOf.length < n) this.#ownerOf = new Int32Array(Math.max(n, 2 * this.#ownerOf.length))
    const ownerOf = this.#ownerOf
    const type = typeof ids[0] === 'number' ? 'number' : 'string'
    const owner = this.#owner
    const count = this.#channels.length
    if (owner !== undefined) {
      for (let i = 0; i < n; i++) {
        const id = ids[i]!
        if (typeof id !== type) throw mixed(id, type)
        const index = owner(id)
        if (!(index >= 0 && index < count && Number.isInteger(index)))
          throw new ManifoldOwnerError(
            `owners(${JSON.stringify(id)}) returned ${String(index)}; it must be an integer from 0 to ${count - 1}`,
          )
        ownerOf[i] = index
      }
      return false
    }
    const ring = this.#ring
    if (ring === undefined)
      throw new InvalidOptionError('owners', 'this Manifold has no owners: pass a ring or a function to send')
    const cache = this.#cache
    const version = ring.version
    if (version !== this.#cacheVersion || cache.size >= this.#cacheSize) {
      cache.clear()
      this.#cacheVersion = version
    }
    if (this.#last?.version !== version) this.#last = undefined
    const lastIds = this.#last?.ids ?? NONE
    const lastOwners = this.#last?.owners
    let known = Math.min(n, lastIds.length)
    let same = n === lastIds.length
    let misses = 0
    const cacheSize = this.#cacheSize
    for (let i = 0; i < n; i++) {
      const id = ids[i]!
      if (typeof id !== type) throw mixed(id, type)
      if (i < known && id === lastIds[i]) {
        ownerOf[i] = lastOwners![i]!
        continue
      }
      same = false
      // Mostly different from the last list (equal strings compare by content, ~10 ns): stop comparing.
      if (++misses === 64 && misses > i >> 1) known = 0
      let index = cache.get(id)
      if (index === undefined) {
        const node = ring.get(type === 'number' ? String(id) : (id as string))
        index = this.#byName.get(node)
        if (index === undefined)
          throw new ManifoldOwnerError(
            `the ring puts ${JSON.stringify(id)} on node ${JSON.stringify(node)}, and no channel is named so`,
          )
        if (cacheSize > 0) cache.set(id, index)
      }
      ownerOf[i] = index
    }
    return same
  }
}

function mixed(id: unknown, type: string): InvalidOptionError {
  return new InvalidOptionError(
    'recipientIds',
    `must be all strings or all numbers: the first is a ${type}, then ${JSON.stringify(id)} is a ${typeof id}`,
  )
}
