// Public types: the event map users augment, and the shapes of streams, messages and stats.

/**
 * Augment to type your events (the map you pass as `events`):
 * `declare module 'fastify-sse-hub' { interface SseEvents extends AppEvents {} }`
 * where `type AppEvents = typeof events`. Without it, any name and any data type-check.
 */
export interface SseEvents {}

/** Event name -> data type. */
export type SseEventMap<Schemas = SseEvents> = keyof Schemas extends never
  ? Record<string, unknown>
  : { [K in keyof Schemas]: Schemas[K] extends { static: infer Data } ? Data : never }

export type SseEventName = keyof SseEventMap & string

/** The strings an event's data may be, written verbatim as `text`; any string for untyped events. */
export type SseTextOf<Data> = unknown extends Data ? string : Extract<Data, string>

/**
 * `{ event, data }` with `data` typed by `event`, or `{ event, text }` where the event's data may
 * be a string: one member per name of `Name`, so a union of names still pairs each with its own
 * data. Generic in the name, so that a wrong payload's error names that event's data type
 * rather than every event's.
 */
export type SseMessage<Map = SseEventMap, Name extends keyof Map & string = keyof Map & string> =
  Name extends unknown
    ? { event: Name, data: Map[Name], text?: undefined } | ([SseTextOf<Map[Name]>] extends [never] ? never : { event: Name, text: SseTextOf<Map[Name]>, data?: undefined })
    : never

/**
 * What `publish` takes: a message, the topic it goes to (default `'broadcast'`), and `last: true`
 * for a topic's final event.
 */
export type SsePublishMessage<Map = SseEventMap, Name extends keyof Map & string = keyof Map & string> =
  SseMessage<Map, Name> & { topic?: string, last?: boolean }

/** What `sendAll` pulls from: any iterable or async iterable of messages (an object-mode `Readable` is one). */
export type SseSource<Map = SseEventMap> = Iterable<SseMessage<Map>> | AsyncIterable<SseMessage<Map>>

export interface SseSendAllOptions {
  /** Pull the next message only while the client's unsent backlog is at most this many bytes. Default 65536. */
  highWaterMark?: number
  /** Close the stream (`'server'`) when the source is done. Default true. */
  close?: boolean
}

export type SseCloseReason = 'client' | 'server' | 'slow' | 'shutdown'

export interface SseStreamOptions {
  /**
   * What the stream receives; default `['broadcast']`. `[]`: a private stream, which receives
   * only what its handler sends. At most 1,000 topics.
   */
  topics?: readonly string[]
  /**
   * Without a Last-Event-ID, first send the newest `n` retained events of the stream's topics
   * (`'all'`: every retained one), in publish order. Default 0.
   */
  backfill?: number | 'all'
}

export interface SseStream {
  /** Sends an event to this client only; no `id:` (it is not part of the replayable history). */
  send<Name extends SseEventName> (message: SseMessage<SseEventMap, Name>): void
  /**
   * Sends every message of `source` with backpressure: the next is pulled only while the
   * client's backlog is at most `highWaterMark`. Resolves when the source is done (the stream is
   * then closed, unless `close: false`) or the stream ended first (the source is stopped);
   * rejects, closing the stream, when the source throws or a message fails its check.
   */
  sendAll (source: SseSource, options?: SseSendAllOptions): Promise<void>
  /** Writes a `:` comment line. */
  comment (text: string): void
  /** Ends the stream (reason `'server'`). */
  close (): void
  /** Resolves, never rejects, when the stream ends, with the reason. */
  readonly closed: Promise<SseCloseReason>
  /** Aborted when the stream ends. */
  readonly signal: AbortSignal
  /** The id the client resumed from (`Last-Event-ID` header, else `lastEventId` query). */
  readonly lastEventId: string | undefined
  readonly topics: readonly string[]
}

export interface SseStats {
  /** Open streams on this instance. */
  connections: number
  /** Events this instance published (`send` not counted). */
  published: number
  /** Slow clients disconnected. */
  dropped: number
  /** Memory store: topics with retained events. */
  topics?: number
  /** Memory store: bytes of retained events, as `historyMaxBytes` counts them. */
  retainedBytes?: number
}

export interface SseHub {
  /** Validates, numbers, stores and fans the event out to every stream on its topic. */
  publish<Name extends SseEventName> (message: SsePublishMessage<SseEventMap, Name>): Promise<{ id: string }>
  stats (): SseStats
  /** Open streams on this instance that receive `topic` (default `'broadcast'`). */
  count (topic?: string): number
  /**
   * Ends every stream that receives `topic` (reason `'server'`), after the events published to
   * it before the call, on every instance sharing the store. Resolves to the number ended here.
   */
  disconnect (topic: string): Promise<number>
}
