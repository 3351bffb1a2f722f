// The client: typed JSON and text listeners over the platform's EventSource, `sse-reset` as its own
// callback, and, once EventSource gives up, a HEAD probe that tells a finished stream (204) from a
// failure, and a reconnect with backoff that carries the last event id.
import type { Static, TSchema } from '@sinclair/typebox'

/**
 * Event name -> data type, from a map of TypeBox schemas (the `events` the server registers,
 * or the app's augmented `SseEvents`) or from a map of data types. An empty map means any
 * name with `unknown` data.
 */
export type SseClientEventMap<Events> = keyof Events extends never
  ? Record<string, unknown>
  : { [K in keyof Events & string]: Events[K] extends infer S extends TSchema ? Static<S> : Events[K] }

type TextOf<Data> = unknown extends Data ? string : Extract<Data, string>

/**
 * Event name -> what a text listener receives: the string part of the event's data type (the
 * string literal `'[DONE]'` of `Type.Union([Chunk, Type.Literal('[DONE]')])`). Names whose data
 * is never a string are left out.
 */
export type SseClientTextEventMap<Events> = {
  [K in keyof SseClientEventMap<Events> as [TextOf<SseClientEventMap<Events>[K]>] extends [never] ? never : K]: TextOf<SseClientEventMap<Events>[K]>
}

/** The part of a `MessageEvent` the client reads; browsers and undici both provide it. */
export interface SseMessageEventLike {
  readonly type: string
  readonly data: string
  readonly lastEventId: string
}

/** The part of an `EventSource` the client uses: the browser's, or undici's in Node. */
export interface SseEventSourceLike {
  readonly readyState: number
  addEventListener (type: string, listener: (event: any) => void): void
  close (): void
}

export type SseEventSourceConstructor = new (url: string, init?: any) => SseEventSourceLike

/** The part of `fetch` the client uses for its HEAD probe: the platform's, or undici's in Node. */
export type SseFetchLike = (url: string, init: { method: 'HEAD', credentials: 'include' | 'same-origin' }) => Promise<{ readonly status: number }>

export interface SseBackoffOptions {
  /** Milliseconds before the first reconnect after EventSource gives up. Default 1000. */
  initialDelay?: number
  /** Upper bound of the delay, in milliseconds. Default 30000. */
  maxDelay?: number
  /** Each attempt waits `factor` times longer than the one before. Default 2. */
  factor?: number
  /** Share of each delay (0 to 1) drawn at random, so clients do not return in step. Default 0.5. */
  jitter?: number
  /** Reconnects in a row without an open stream before giving up (state `closed`). Default Infinity. */
  maxRetries?: number
}

export interface SseClientOptions {
  /** The EventSource class; default `globalThis.EventSource`. In Node: `import { EventSource } from 'undici'`. */
  EventSource?: SseEventSourceConstructor
  /** Passed to the EventSource constructor as is (`withCredentials`, undici's `dispatcher`, ...). */
  eventSourceInit?: { withCredentials?: boolean, [key: string]: unknown }
  /** Resume after this id on the first connection (sent as the `lastEventId` query parameter). */
  lastEventId?: string
  /** For the HEAD probe after EventSource gives up; default `globalThis.fetch`. Without one, no probe. */
  fetch?: SseFetchLike
  backoff?: SseBackoffOptions
}

/**
 * `connecting`: first connection; `open`: receiving; `reconnecting`: EventSource is retrying by
 * itself (no `delay`) or the client waits `delay` ms before attempt `attempt`; `closed`: for good.
 */
export type SseClientState = 'connecting' | 'open' | 'reconnecting' | 'closed'

/**
 * Why the client closed: `finished`, the server answered 204 (every topic of the stream finished
 * and nothing more is owed); `maxRetries`, the backoff gave up; `close`, `close()` was called.
 */
export type SseCloseReason = 'finished' | 'maxRetries' | 'close'

export interface SseStateChange {
  state: SseClientState
  /** Set when the client itself schedules a reconnect: the attempt about to be made, from 1. */
  attempt?: number
  /** Set with `attempt`: milliseconds until that attempt. */
  delay?: number
  /** Set with state `closed`. */
  reason?: SseCloseReason
}

/** The data of an `sse-reset` event: the stream could not resume after `lastEventId`. */
export interface SseReset {
  lastEventId: string
  reason: 'unknown' | 'expired'
}

export type SseListener<Data> = (data: Data, event: SseMessageEventLike) => void

const RESET_EVENT = 'sse-reset'
const CLOSED = 2
const PREFIX = 'fastify-sse-hub/client: '

/**
 * `new SseClient<typeof events>(url)` types every listener from the server's event schemas;
 * without a type argument, any event name is accepted and data is `unknown`.
 */
export class SseClient<Events extends object = Record<never, never>> {
  readonly #url: string
  readonly #EventSource: SseEventSourceConstructor
  readonly #init: { withCredentials?: boolean } | undefined
  readonly #fetch: SseFetchLike | undefined
  readonly #backoff: Required<SseBackoffOptions>
  readonly #listeners = new Map<string, { json: Set<SseListener<any>>, text: Set<SseListener<any>> }>()
  readonly #resetListeners = new Set<SseListener<SseReset>>()
  readonly #stateListeners = new Set<(change: SseStateChange) => void>()
  readonly #errorListeners = new Set<(error: Error, event: SseMessageEventLike) => void>()
  #source: SseEventSourceLike | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #attempt = 0
  #state: SseClientState = 'connecting'
  #lastEventId: string | undefined

  constructor (url: string | URL, options: SseClientOptions = {}) {
    const EventSourceClass = options.EventSource ?? (globalThis as { EventSource?: SseEventSourceConstructor }).EventSource
    if (typeof EventSourceClass !== 'function') {
      throw new TypeError(PREFIX + 'no EventSource here; pass one as the `EventSource` option (in Node: `import { EventSource } from \'undici\'`)')
    }
    this.#EventSource = EventSourceClass
    this.#url = String(url)
    this.#init = options.eventSourceInit
    this.#fetch = options.fetch ?? (globalThis as { fetch?: SseFetchLike }).fetch
    this.#lastEventId = options.lastEventId
    const backoff = options.backoff ?? {}
    this.#backoff = {
      initialDelay: checkNumber('initialDelay', backoff.initialDelay, 1000, 0, Infinity),
      maxDelay: checkNumber('maxDelay', backoff.maxDelay, 30_000, 0, Infinity),
      factor: checkNumber('factor', backoff.factor, 2, 1, Infinity),
      jitter: checkNumber('jitter', backoff.jitter, 0.5, 0, 1),
      maxRetries: checkNumber('maxRetries', backoff.maxRetries, Infinity, 0, Infinity)
    }
    this.#connect()
  }

  get state (): SseClientState {
    return this.#state
  }

  /** The newest event id this client saw; carried into its own reconnects. */
  get lastEventId (): string | undefined {
    return this.#lastEventId
  }

  /** Calls `listener` with the parsed data of every `event`; returns a function that removes it. */
  on<K extends keyof SseClientEventMap<Events> & string> (event: K, listener: SseListener<SseClientEventMap<Events>[K]>): () => void {
    return this.#listen(event, 'json', listener)
  }

  /**
   * Calls `listener` with the data of every `event` as sent (the server's `{ event, text }`).
   * When the name has `on()` listeners too, it gets only the events whose data is not JSON.
   */
  onText<K extends keyof SseClientTextEventMap<Events> & string> (event: K, listener: SseListener<SseClientTextEventMap<Events>[K]>): () => void {
    return this.#listen(event, 'text', listener)
  }

  /** `sse-reset`: events after `reset.lastEventId` may be missing; reload what you derive from them. */
  onReset (listener: SseListener<SseReset>): () => void {
    return subscribe(this.#resetListeners, listener)
  }

  onState (listener: (change: SseStateChange) => void): () => void {
    return subscribe(this.#stateListeners, listener)
  }

  /** An event for `on()` listeners whose data is not JSON; it reaches no other listener. */
  onError (listener: (error: Error, event: SseMessageEventLike) => void): () => void {
    return subscribe(this.#errorListeners, listener)
  }

  /** Closes the connection and cancels any pending reconnect. */
  close (): void {
    this.#close('close')
  }

  #close (reason: SseCloseReason): void {
    if (this.#state === 'closed') return
    clearTimeout(this.#timer)
    this.#source?.close()
    this.#source = undefined
    this.#setState({ state: 'closed', reason })
  }

  #listen (event: string, kind: 'json' | 'text', listener: SseListener<any>): () => void {
    let listeners = this.#listeners.get(event)
    if (listeners === undefined) {
      this.#listeners.set(event, listeners = { json: new Set(), text: new Set() })
      this.#source?.addEventListener(event, this.#dispatch)
    }
    return subscribe(listeners[kind], listener)
  }

  #connect (): void {
    const source = new this.#EventSource(this.#resumeUrl(), this.#init)
    this.#source = source
    // Skipped: events the server named `open` or `error`, and a replaced or closed source
    // (undici reports the abort of a connection closed while it was being made).
    const own = (event: unknown) => source === this.#source && !isMessage(event)
    source.addEventListener('open', (event: unknown) => {
      if (!own(event)) return
      this.#attempt = 0
      this.#setState({ state: 'open' })
    })
    source.addEventListener('error', (event: unknown) => {
      if (!own(event)) return
      if (source.readyState !== CLOSED) {
        this.#setState({ state: 'reconnecting' })
        return
      }
      this.#source = undefined
      this.#answersNoContent().then((finished) => {
        if (this.#state === 'closed') return // close() while the probe was on its way
        if (finished) this.#close('finished')
        else this.#retry()
      })
    })
    source.addEventListener(RESET_EVENT, (event: SseMessageEventLike) => {
      const reset = this.#receive(event) ? this.#parse(event, true) as SseReset | undefined : undefined
      if (reset !== undefined) for (const listener of this.#resetListeners) listener(reset, event)
    })
    for (const type of this.#listeners.keys()) source.addEventListener(type, this.#dispatch)
  }

  /**
   * EventSource gave up on a non-200 answer without saying which: a HEAD to the URL a reconnect
   * would use tells a 204 (the stream finished for good) from a failure worth retrying.
   */
  async #answersNoContent (): Promise<boolean> {
    const fetch = this.#fetch // called unbound: the browser's fetch refuses another `this`
    if (fetch === undefined) return false
    const credentials = this.#init?.withCredentials === true ? 'include' : 'same-origin'
    try {
      return (await fetch(this.#resumeUrl(), { method: 'HEAD', credentials })).status === 204
    } catch {
      return false
    }
  }

  /** EventSource gave up (a non-200 answer): a new one after the backoff delay, from the last id. */
  #retry (): void {
    if (this.#attempt >= this.#backoff.maxRetries) {
      this.#close('maxRetries')
      return
    }
    const { initialDelay, maxDelay, factor, jitter } = this.#backoff
    const base = Math.min(maxDelay, initialDelay * factor ** this.#attempt)
    const delay = Math.round(base * (1 - jitter * Math.random()))
    this.#attempt++
    this.#setState({ state: 'reconnecting', attempt: this.#attempt, delay })
    this.#timer = setTimeout(() => this.#connect(), delay)
  }

  #resumeUrl (): string {
    if (this.#lastEventId === undefined) return this.#url
    const url = new URL(this.#url, (globalThis as { location?: { href: string } }).location?.href)
    url.searchParams.set('lastEventId', this.#lastEventId)
    return url.href
  }

  readonly #dispatch = (event: SseMessageEventLike): void => {
    // Skipped: EventSource's own `open` and `error`.
    if (!isMessage(event) || !this.#receive(event)) return
    const { json, text } = this.#listeners.get(event.type) as { json: Set<SseListener<unknown>>, text: Set<SseListener<string>> }
    if (json.size > 0) {
      // The wire does not say which events are text: with JSON listeners too, JSON is tried first,
      // so a union of chunks and the text `[DONE]` splits cleanly.
      const data = this.#parse(event, text.size === 0)
      if (data !== undefined) {
        for (const listener of json) listener(data, event)
        return
      }
    }
    for (const listener of text) listener(event.data, event)
  }

  /** Records the event's id; false once closed. */
  #receive (event: SseMessageEventLike): boolean {
    // Once closed, nothing more: undici goes on dispatching the rest of a chunk after close().
    if (this.#state === 'closed') return false
    // EventSource keeps the last id across events; '' only before any id reached it.
    if (event.lastEventId !== '') this.#lastEventId = event.lastEventId
    return true
  }

  /** The parsed data; `undefined` when it is not JSON, reported to `onError` listeners if `report`. */
  #parse (event: SseMessageEventLike, report: boolean): unknown {
    try {
      return JSON.parse(event.data)
    } catch (err) {
      if (report) {
        const error = new SyntaxError(`${PREFIX}the data of event "${event.type}" is not JSON; listen with onText() for text events`, { cause: err })
        for (const listener of this.#errorListeners) listener(error, event)
      }
      return undefined
    }
  }

  #setState (change: SseStateChange): void {
    // EventSource retrying by itself reports each failed attempt; one `reconnecting` is enough.
    if (change.state === this.#state && change.delay === undefined) return
    this.#state = change.state
    for (const listener of this.#stateListeners) listener(change)
  }
}

function isMessage (event: unknown): event is SseMessageEventLike {
  return typeof (event as { data?: unknown }).data === 'string'
}

function subscribe<T> (set: Set<T>, item: T): () => void {
  set.add(item)
  return () => { set.delete(item) }
}

function checkNumber (name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value >= min && value <= max)) {
    throw new TypeError(`${PREFIX}backoff.${name} must be a number from ${min} to ${max}, got ${String(value)}`)
  }
  return value
}
