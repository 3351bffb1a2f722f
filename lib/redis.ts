// The `fastify-sse-hub/redis` entry point: a store shared by every app instance through Redis.
// It alone loads `ioredis` (an optional peer dependency).
export { redisStore } from './store/redis-store'
export type { SseRedisStoreClientOptions, SseRedisStoreOptions, SseRedisStoreUrlOptions } from './store/redis-options'
export type { SseStore } from './store/types'
