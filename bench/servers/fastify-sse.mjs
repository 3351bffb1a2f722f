// @fastify/sse: it has no hub, so the app keeps a Set of streams and writes to each in a loop.
import Fastify from 'fastify'
import fastifySse from '@fastify/sse'
import { EVENT_NAME, makeData } from '../common/payload.mjs'
import { addControlRoutes, listenFastify } from '../common/server-kit.mjs'
import { JSON_TOKEN_EVENT, TOKEN_EVENT, answer, answerStats, parseAnswer, stallProgress, stalled } from '../common/tokens.mjs'

const app = Fastify({ logger: false })
await app.register(fastifySse, { heartbeatInterval: 15000 })

const streams = new Set()
const ignore = () => {}

app.get('/events', { sse: 'only' }, async (request, reply) => {
  const sse = reply.sse
  sse.keepAlive()
  // Headers go out now, not with the first event, so the client sees the stream open.
  sse.sendHeaders()
  reply.raw.flushHeaders()
  streams.add(sse)
  sse.onClose(() => streams.delete(sse))
})

// The answers cells (issue 11): the answer handed to `reply.sse.send()`, as its README streams an
// async generator (each message written, 'drain' awaited when write() returns false); the
// stream ends when the handler returns. The route's serializer passes text tokens through, so
// the wire is the other contenders' (`data: <text>`), and stringifies JSON ones, as by default.
const serializer = (data) => typeof data === 'string' ? data : JSON.stringify(data)
const textToken = (seq, data) => ({ event: TOKEN_EVENT, data })
const jsonToken = (seq, data) => ({ event: JSON_TOKEN_EVENT, data })
app.get('/answer', { sse: { kind: 'only', serializer } }, async (request, reply) => {
  const spec = parseAnswer(request.query)
  await reply.sse.send(answer(spec, spec.json ? jsonToken : textToken, stallProgress(spec, reply.raw)))
})
app.get('/answer-stats', async () => answerStats({ highWaterMark: stalled.res?.writableHighWaterMark ?? 16_384, asserted: false }))

addControlRoutes(app, {
  connections: () => streams.size,
  publish: (seq, size) => {
    const message = { id: String(seq), event: EVENT_NAME, data: makeData(seq, size) }
    for (const sse of streams) sse.send(message).catch(ignore)
  }
})

await listenFastify(app)
