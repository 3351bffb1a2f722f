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
  readonly data: string
}

/** What a reconnecting stream must be sent before live events. */
export interface SseReplay {
  /** Every event of the stream's topics with `seq > after`, in publish order. */
  readonly events: readonly SseStoredEvent[]
  /** Live events with `seq <= after` are already covered (sent before, or part of `events`). */
  readonly after: number
  /** Present when the client cannot resume exactly where it left off. */
  readonly reset?: { readonly reason: 'unknown' | 'expired', readonly id: string }
}

export interface SseStoreContext {
  /** Events kept per topic for replay; 0 keeps none. */
  readonly history: number
  /** The store calls this once for every event, from any instance, in `seq` order. */
  deliver (event: SseStoredEvent): void
  /**
   * Optional. A shared store calls this when some events will never be delivered here: this
   * instance fell further behind than the store keeps, or the shared history was lost and a
   * new one began. The hub then ends every open stream, so each client reconnects with its
   * Last-Event-ID and is replayed exactly, or reset.
   */
  lost? (): void
}

export interface SseStore {
  /** Called once while the app boots; a store that cannot work rejects, failing the boot. */
  open (context: SseStoreContext): Promise<void>
  /** Assigns the next id, keeps the event for replay and delivers it everywhere. */
  append (topic: string, event: string, data: string): Promise<SseStoredEvent>
  /** The newest id delivered here, for the first frame of a new stream; throws when unavailable. */
  newestId (): string
  /** The events of `topics` after `lastEventId`, or a reset when that is impossible. */
  replay (topics: readonly string[], lastEventId: string): SseReplay | Promise<SseReplay>
  /** Releases what the store holds; called once when the app closes. */
  close (): Promise<void>
}

/** The history of one topic as a store sees it when planning a replay. */
export interface SseTopicHistory {
  /** Retained events after some point, oldest first. */
  readonly events: readonly SseStoredEvent[]
  /** The newest `seq` of this topic no longer retained; 0 when nothing was dropped. */
  readonly droppedUpTo: number
}
