// The two built-in stores, for tests that must hold on both: the memory store, and the Redis
// store on 127.0.0.1:6379 under the test's own key prefix (skipped, with a reason, without Redis).
import type { Test } from 'tap'
import type { SsePluginOptions } from '../../lib/index'
import { redisStore } from '../../lib/redis'
import { REDIS_URL, redisSkip, testPrefix } from './redis'

export interface StoreCase {
  name: 'memory' | 'redis'
  skip: string | false
  /** Plugin options that select this store; each call is a new store (one per app). */
  options: (t: Test, keyPrefix?: string) => SsePluginOptions
}

export const stores: StoreCase[] = [
  { name: 'memory', skip: false, options: () => ({}) },
  { name: 'redis', skip: redisSkip, options: (t, keyPrefix) => ({ store: redisStore({ url: REDIS_URL, keyPrefix: keyPrefix ?? testPrefix(t) }) }) }
]
