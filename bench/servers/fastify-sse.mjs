// @fastify/sse: it has no hub, so the app keeps a Set of streams and writes to each in a loop.
import Fastify from 'fastify'
import fastifySse from '@fastify/sse'
import { EVENT_NAME, makeData } from '../common/payload.mjs'
import { addControlRoutes, listenFastify } from '../common/server-kit.mjs'

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

addControlRoutes(app, {
  connections: () => streams.size,
  publish: (seq, size) => {
    const message = { id: String(seq), event: EVENT_NAME, data: makeData(seq, size) }
    for (const sse of streams) sse.send(message).catch(ignore)
  }
})

await listenFastify(app)
