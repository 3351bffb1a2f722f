// Options of `redisStore()`: defaults, and the checks that run when the store is created.
import type { Cluster, Redis } from 'ioredis'
import { FST_SSE_INVALID_OPTION } from '../errors'
import { checkInteger, isWellFormed, MAX_TIMER_MS, orDefault } from '../checks'

interface SseRedisStoreCommonOptions {
  /**
   * Namespaces every key the store uses, so several apps can share one Redis. Default `'sse'`.
   * Keys are `{<keyPrefix>}:...`: the braces make it a Redis Cluster hash tag.
   */
  keyPrefix?: string
  /**
   * Milliseconds. Bounds each command (a `publish` rejects after this), connecting at boot,
   * and how long a silent connection is trusted before it is replaced. Default 5000.
   */
  timeout?: number
  /**
   * Events kept in the shared log every instance reads from; an instance cut off from Redis
   * for longer than this many events replays its streams from their topics' lists instead (exactly
   * where those still hold what was missed, else after `sse-reset`). Default 10000.
   */
  logLength?: number
}

/** `redisStore({ url })`: the store creates its connections and closes them with the app. */
export interface SseRedisStoreUrlOptions extends SseRedisStoreCommonOptions {
  /** `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. */
  url: string
  client?: never
}

/** `redisStore({ client })`: an ioredis client you own; the store never closes it. */
export interface SseRedisStoreClientOptions extends SseRedisStoreCommonOptions {
  /**
   * Runs the store's commands; duplicated once for the reader. A `Redis` (standalone, Sentinel)
   * or a `Cluster`: every key of the store is in one hash slot.
   */
  client: Redis | Cluster
  url?: never
}

export type SseRedisStoreOptions = SseRedisStoreUrlOptions | SseRedisStoreClientOptions

export interface RedisStoreSettings {
  url: string | undefined
  client: Redis | Cluster | undefined
  keyPrefix: string
  timeout: number
  logLength: number
}

const KNOWN_KEYS = new Set(['url', 'client', 'keyPrefix', 'timeout', 'logLength'])
const CLIENT_METHODS = ['duplicate', 'evalsha', 'script', 'xread'] as const

export function resolveRedisOptions (options: unknown): RedisStoreSettings {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new FST_SSE_INVALID_OPTION('redisStore', 'takes an object: redisStore({ url }) or redisStore({ client })')
  }
  const given = options as Record<string, unknown>
  for (const key of Object.keys(given)) {
    if (!KNOWN_KEYS.has(key)) {
      throw new FST_SSE_INVALID_OPTION(`redisStore.${key}`, `is not an option of redisStore (known: ${[...KNOWN_KEYS].join(', ')})`)
    }
  }
  if ((given.url === undefined) === (given.client === undefined)) {
    throw new FST_SSE_INVALID_OPTION('redisStore', 'needs exactly one of `url` (the store connects itself) or `client` (an ioredis client you own)')
  }
  const timeout = checkInteger('redisStore.timeout', orDefault(given.timeout, 5000), 1, Math.floor(MAX_TIMER_MS / 2))
  return {
    url: given.url === undefined ? undefined : checkUrl(given.url),
    client: given.client === undefined ? undefined : checkClient(given.client),
    keyPrefix: checkKeyPrefix(orDefault(given.keyPrefix, 'sse')),
    timeout,
    logLength: checkInteger('redisStore.logLength', orDefault(given.logLength, 10_000), 1, Number.MAX_SAFE_INTEGER)
  }
}

function checkUrl (url: unknown): string {
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url) || !URL.canParse(url)) {
    throw new FST_SSE_INVALID_OPTION('redisStore.url', 'must be a redis:// or rediss:// URL string (to configure more, pass an ioredis `client` instead)')
  }
  return url
}

function checkClient (client: unknown): Redis | Cluster {
  const candidate = client as Record<string, unknown> | null
  if (candidate === null || typeof candidate !== 'object' || CLIENT_METHODS.some((m) => typeof candidate[m] !== 'function') ||
    (candidate.isCluster === true && typeof candidate.nodes !== 'function')) {
    throw new FST_SSE_INVALID_OPTION('redisStore.client', 'must be an ioredis client (new Redis(...) or new Redis.Cluster([...]))')
  }
  return client as Redis | Cluster
}

function checkKeyPrefix (prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix === '' || !isWellFormed(prefix)) {
    throw new FST_SSE_INVALID_OPTION('redisStore.keyPrefix', 'must be a non-empty string (without lone surrogates: Redis stores UTF-8)')
  }
  if (prefix.startsWith('}')) {
    throw new FST_SSE_INVALID_OPTION('redisStore.keyPrefix', 'must not start with `}`: keys are `{<keyPrefix>}:...`, and a Redis Cluster would find an empty hash tag `{}` there and spread the keys over several slots')
  }
  return prefix
}
