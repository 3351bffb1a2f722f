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

/**
 * `{ event, data }` with `data` typed by `event`: one member per name of `Name`, so a union of
 * names still pairs each with its own data. Generic in the name, so that a wrong payload's error
 * names that event's data type rather than every event's.
 */
export type SseMessage<Map = SseEventMap, Name extends keyof Map & string = keyof Map & string> =
  Name extends unknown ? { event: Name, data: Map[Name] } : never

/** What `publish` takes: a message and the topic it goes to (default `'broadcast'`). */
export type SsePublishMessage<Map = SseEventMap, Name extends keyof Map & string = keyof Map & string> =
  SseMessage<Map, Name> & { topic?: string }

export type SseCloseReason = 'client' | 'server' | 'slow' | 'shutdown'

export interface SseStreamOptions {
  /** What the stream receives; default `['broadcast']`. */
  topics?: readonly string[]
}

export interface SseStream {
  /** Sends an event to this client only; no `id:` (it is not part of the replayable history). */
  send<Name extends SseEventName> (message: SseMessage<SseEventMap, Name>): void
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
}

export interface SseHub {
  /** Validates, numbers, stores and fans the event out to every stream on its topic. */
  publish<Name extends SseEventName> (message: SsePublishMessage<SseEventMap, Name>): Promise<{ id: string }>
  stats (): SseStats
  /** Open streams on this instance that receive `topic` (default `'broadcast'`). */
  count (topic?: string): number
}
