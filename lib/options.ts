// Registration options: defaults, and the checks that run once when the plugin registers.
import { KindGuard } from '@sinclair/typebox'
import { FST_SSE_INVALID_OPTION } from './errors'
import { RESET_EVENT } from './protocol/encode'
import { checkInteger, describe, isWellFormed, MAX_TIMER_MS, orDefault } from './checks'
import type { SseEventSchemas } from './schemas'
import type { SseStore } from './store/types'

export interface SsePluginOptions {
  /** Event name -> TypeBox schema of its data. Absent: any name, any JSON data. */
  events?: SseEventSchemas
  /**
   * Events kept per topic for Last-Event-ID replay and backfill; 0 = none. Default 1000. A
   * function of the topic answers per topic (the same answer every time, on every instance).
   */
  history?: number | ((topic: string) => number)
  /** Milliseconds after which an event is no longer replayed or backfilled; 0 = no age limit. Default 1 hour. */
  historyMaxAge?: number
  /** Memory store: the total bytes of retained events across all topics. Default 64 MiB. */
  historyMaxBytes?: number
  /** Milliseconds a stream may stay silent before a keep-alive comment goes to it; 0 = off. Default 15000. */
  heartbeat?: number
  /** Milliseconds, sent once as `retry:` when a stream opens. Default: not sent. */
  retry?: number
  /**
   * Milliseconds over which the clients of a closing app come back: at `app.close()` each stream
   * is sent `retry:` with its own random delay in [0, shutdownSpread) (added to `retry` when set)
   * before it ends. 0 = off. Default 5000.
   */
  shutdownSpread?: number
  /** A client whose unsent backlog exceeds this many bytes is disconnected. Default 1 MiB. */
  maxBufferedBytes?: number
  /** Where events are numbered and kept. Default: in-memory ring buffers. */
  store?: SseStore
}

export interface SseResolvedOptions {
  events: SseEventSchemas | undefined
  history: number | ((topic: string) => number)
  historyMaxAge: number
  historyMaxBytes: number
  heartbeat: number
  retry: number | undefined
  shutdownSpread: number
  maxBufferedBytes: number
  store: SseStore | undefined
}

export const MAX_HISTORY = 16_777_216
/** About as long as a browser's own reconnection delay (3 s in Chrome and Safari, 5 s in Firefox). */
const DEFAULT_SHUTDOWN_SPREAD = 5000
const STORE_METHODS = ['open', 'append', 'newestId', 'replay', 'disconnect', 'close'] as const
// Fastify's own register options reach the plugin too.
const FASTIFY_KEYS = new Set(['prefix', 'logLevel', 'logSerializers'])
const KNOWN_KEYS = new Set(['events', 'history', 'historyMaxAge', 'historyMaxBytes', 'heartbeat', 'retry', 'shutdownSpread', 'maxBufferedBytes', 'store'])

export function resolveOptions (options: unknown): SseResolvedOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new FST_SSE_INVALID_OPTION('options', `must be an object, got ${describe(options)}`)
  }
  const given = options as Record<string, unknown>
  for (const key of Object.keys(given)) {
    if (!KNOWN_KEYS.has(key) && !FASTIFY_KEYS.has(key)) {
      throw new FST_SSE_INVALID_OPTION(key, `is not an option of fastify-sse-hub (known: ${[...KNOWN_KEYS].join(', ')})`)
    }
  }
  const retry = given.retry === undefined ? undefined : checkInteger('retry', given.retry, 0, MAX_TIMER_MS)
  return {
    events: checkEvents(given.events),
    history: typeof given.history === 'function' ? given.history as (topic: string) => number : checkInteger('history', orDefault(given.history, 1000), 0, MAX_HISTORY),
    historyMaxAge: checkInteger('historyMaxAge', orDefault(given.historyMaxAge, 3_600_000), 0, Number.MAX_SAFE_INTEGER),
    historyMaxBytes: checkInteger('historyMaxBytes', orDefault(given.historyMaxBytes, 64 * 1024 * 1024), 0, Number.MAX_SAFE_INTEGER),
    heartbeat: checkInteger('heartbeat', orDefault(given.heartbeat, 15_000), 0, MAX_TIMER_MS),
    retry,
    shutdownSpread: checkShutdownSpread(given.shutdownSpread, retry ?? 0),
    maxBufferedBytes: checkInteger('maxBufferedBytes', orDefault(given.maxBufferedBytes, 1 << 20), 1, Number.MAX_SAFE_INTEGER),
    store: checkStore(given.store)
  }
}

/** The longest delay sent, `retry` + spread - 1, stays within a browser's timer (a longer one fires at once). */
function checkShutdownSpread (spread: unknown, retry: number): number {
  const max = MAX_TIMER_MS - retry + 1
  return checkInteger('shutdownSpread', orDefault(spread, Math.min(DEFAULT_SHUTDOWN_SPREAD, max)), 0, max)
}

function checkEvents (events: unknown): SseEventSchemas | undefined {
  if (events === undefined) return undefined
  if (events === null || typeof events !== 'object' || ![Object.prototype, null].includes(Object.getPrototypeOf(events))) {
    throw new FST_SSE_INVALID_OPTION('events', `must map event names to TypeBox schemas, got ${describe(events)}`)
  }
  for (const [name, schema] of Object.entries(events)) {
    if (name === '' || /[\r\n\0]/.test(name) || !isWellFormed(name) || name === RESET_EVENT) {
      throw new FST_SSE_INVALID_OPTION('events', `cannot declare the event name ${JSON.stringify(name)} (empty, CR/LF/NUL, a lone surrogate, or reserved)`)
    }
    if (!KindGuard.IsSchema(schema)) {
      throw new FST_SSE_INVALID_OPTION(`events.${name}`, 'must be a TypeBox schema (Type.Object(...), Type.String(), ...)')
    }
  }
  return events as SseEventSchemas
}

function checkStore (store: unknown): SseStore | undefined {
  if (store === undefined) return undefined
  const candidate = store as Record<string, unknown> | null
  if (candidate === null || typeof candidate !== 'object' || STORE_METHODS.some((m) => typeof candidate[m] !== 'function')) {
    throw new FST_SSE_INVALID_OPTION('store', `must implement ${STORE_METHODS.join(', ')} (see "Writing a store" in the README)`)
  }
  return store as SseStore
}
