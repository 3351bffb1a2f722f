// The store interface: where events get their ids, are kept for replay, and come back from.
// The hub talks only to this; the in-memory store and the Redis store both implement it.

/** One published event as the store keeps it. `data` is the JSON text of the payload. */
export interface SseStoredEvent {
  /** Position in the single sequence shared by every topic: orders all events. */
  readonly seq: number
  /** What clients see as the event id. */
  readonly id: string
  readonly topic: string
  readonly event: string
  /** What goes on the wire as the event's data: the JSON text of the payload, or verbatim text. */
  readonly data: string
  /** True for the final event of its topic (`publish({ ..., last: true })`). */
  readonly last?: boolean
}

/** Where a stream starts: after the client's Last-Event-ID, or with the newest `backfill` retained events. */
export type SseReplayFrom = { readonly lastEventId: string } | { readonly backfill: number }

/** Why a client cannot resume exactly: the history it followed is gone, or events it missed are. */
export type SseResetReason = 'unknown' | 'expired'

/** What a reconnecting stream must be sent before live events. */
export interface SseReplay {
  /** Every event of the stream's topics with `seq > after`, in publish order. */
  readonly events: readonly SseStoredEvent[]
  /** Live events with `seq <= after` are already covered (sent before, or part of `events`). */
  readonly after: number
  /** Present when the client cannot resume exactly where it left off. */
  readonly reset?: { readonly reason: SseResetReason, readonly id: string }
  /** The stream's topics whose final event has `seq <= after`: nothing more comes on them. */
  readonly finished?: readonly string[]
  /**
   * For a shared store, the seq of a `disconnect(topic)` of one of the stream's topics after the
   * client's `lastEventId`: a stream open since then is replayed up to it and ended, as it would
   * have been live. (Only needed when an instance fell behind; a store may leave it out.)
   */
  readonly disconnected?: number
}

export interface SseStoreContext {
  /**
   * Events kept per topic for replay; 0 keeps none. The same answer for a topic every time, on
   * every instance; it throws FST_SSE_INVALID_OPTION when the app's function answers wrong.
   */
  history (topic: string): number
  /** Milliseconds after which an event is no longer replayed or backfilled; 0: no age limit. */
  readonly historyMaxAge: number
  /** The bytes of retained events a store in this process may keep across all topics. */
  readonly historyMaxBytes: number
  /** True while a stream on `topic` is open on this instance. */
  hasStreams (topic: string): boolean
  /** The store calls this once for every event, from any instance, in `seq` order. */
  deliver (event: SseStoredEvent): void
  /**
   * The store calls this for every `disconnect(topic)`, from any instance, in order with the
   * events: the hub ends the streams on that topic after the events delivered before it.
   */
  disconnect (topic: string): void
  /**
   * Optional. A shared store calls this when some events will never be delivered here, in
   * order with the events: the shared history was lost and a new one began (`unknown`: the hub
   * sends each open stream `sse-reset` with `id`, where the events delivered next follow on), or
   * this instance fell further behind than the store keeps (`expired`: the hub replays each open
   * stream in band from the last id it was sent, `id` being the last one missed). Streams stay open.
   */
  reset? (reason: SseResetReason, id: string): void
}

export interface SseStore {
  /** Called once while the app boots; a store that cannot work rejects, failing the boot. */
  open (context: SseStoreContext): Promise<void>
  /**
   * Assigns the next id, keeps the event for replay and delivers it everywhere. With `last`, the
   * topic is finished: later appends to it reject with FST_SSE_TOPIC_FINISHED (the mark is kept
   * at least as long as the history's age limit, even with history 0).
   */
  append (topic: string, event: string, data: string, last?: boolean): Promise<SseStoredEvent>
  /** The newest id delivered here, for the first frame of a new stream; throws when unavailable. */
  newestId (): string
  /**
   * What a stream on `topics` is sent before live events: the events after the client's
   * `lastEventId` (or a reset when that is impossible), or the newest `backfill` retained events
   * (`Infinity`: all; `after` then covers at least every event delivered here before the call).
   * Either way it names the topics that are finished. The answer is read, never changed: a
   * store may give one answer to several streams (the hub encodes its events once for them), and
   * must not change it, or its `events`, afterwards.
   */
  replay (topics: readonly string[], from: SseReplayFrom): SseReplay | Promise<SseReplay>
  /** Has the hubs of every instance end the streams on `topic`, in order with its events. */
  disconnect (topic: string): Promise<void>
  /** Releases what the store holds; called once when the app closes. */
  close (): Promise<void>
  /** Optional: what the store retains in this process, added to `fastify.sse.stats()`. */
  stats? (): SseStoreStats
}

export interface SseStoreStats {
  /** Topics with retained events. */
  topics: number
  /** Bytes of retained events, as `historyMaxBytes` counts them. */
  retainedBytes: number
}

/** The history of one topic as a store sees it when planning a replay. */
export interface SseTopicHistory {
  /** Retained events after some point, oldest first. */
  readonly events: readonly SseStoredEvent[]
  /** The newest `seq` of this topic no longer retained; 0 when nothing was dropped. */
  readonly droppedUpTo: number
}
