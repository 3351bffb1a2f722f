// fastify-sse-hub with the Redis store (fastify-sse-hub/redis), against the Redis server the
// runner started; otherwise the same server as hub.mjs.
process.env.BENCH_HUB_STORE = 'redis'
await import('./hub.mjs')
