// fastify-sse-hub with its default in-memory store: validation, ids, replay history,
// heartbeats and the backlog bound all on, as an application would run it.
// BENCH_HUB_ROOT=/path/to/another/checkout loads the plugin built there instead (A/B runs);
// BENCH_HUB_STORE=redis uses the Redis store (hub-redis.mjs) against BENCH_REDIS_URL.
import Fastify from 'fastify'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { EVENT_NAME, makeData } from '../common/payload.mjs'
import { addControlRoutes, listenFastify, parseUsersRound, publishToUsers, rootRequire } from '../common/server-kit.mjs'
import { JSON_TOKEN_EVENT, TOKEN_EVENT, answer, answerStats, parseAnswer, stallProgress } from '../common/tokens.mjs'

const pluginRequire = process.env.BENCH_HUB_ROOT ? createRequire(join(process.env.BENCH_HUB_ROOT, 'package.json')) : rootRequire
const fastifySse = pluginRequire('./dist/index.js')
const { Type } = pluginRequire('@sinclair/typebox')

const app = Fastify({ logger: false })
await app.register(fastifySse, {
  events: {
    [EVENT_NAME]: Type.Object({ s: Type.Integer({ minimum: 0 }), t: Type.String(), p: Type.String() }),
    // The answers cells' text tokens (their JSON tokens are `tick` events, checked by the schema above).
    [TOKEN_EVENT]: Type.String({ minLength: 1 })
  },
  history: 1000,
  heartbeat: 15000,
  maxBufferedBytes: 1 << 20,
  store: process.env.BENCH_HUB_STORE === 'redis'
    ? pluginRequire('./dist/redis.js').redisStore({ url: process.env.BENCH_REDIS_URL, keyPrefix: `bench-${process.pid}` })
    : undefined
})

app.get('/events', (request, reply) => reply.sse())
// The users cells: one stream per user, on its own topic and, with `?broadcast=1`, on the
// broadcast topic too, as a per-user notification route usually is.
app.get('/users/:user', (request, reply) => {
  const own = `user:${request.params.user}`
  return reply.sse({ topics: request.query.broadcast === '1' ? ['broadcast', own] : [own] })
})
app.get('/publish-users', async (request) => publishToUsers(parseUsersRound(request.query), (user, seq, size) =>
  app.sse.publish({ event: EVENT_NAME, data: makeData(seq, size), topic: `user:${user}` })))

// The answers cells (issue 11): a private stream per request, the answer pulled by sendAll() with
// its default highWaterMark; text tokens (`{ event, text }`) or, with `?json=1`, JSON ones.
const textToken = (seq, text) => ({ event: TOKEN_EVENT, text })
const jsonToken = (seq, data) => ({ event: JSON_TOKEN_EVENT, data })
app.get('/answer', (request, reply) => {
  const spec = parseAnswer(request.query)
  const stream = reply.sse({ topics: [] })
  return stream.sendAll(answer(spec, spec.json ? jsonToken : textToken, stallProgress(spec, reply.raw)))
})
app.get('/answer-stats', async () => answerStats({ highWaterMark: 65_536, asserted: true }))

addControlRoutes(app, {
  connections: () => app.sse.stats().connections,
  publish: (seq, size) => app.sse.publish({ event: EVENT_NAME, data: makeData(seq, size) })
})

await listenFastify(app)
