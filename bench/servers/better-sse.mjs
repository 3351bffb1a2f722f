// better-sse inside Fastify: a session per client, all registered on one channel.
import Fastify from 'fastify'
import { createChannel, createSession } from 'better-sse'
import { EVENT_NAME, makeData } from '../common/payload.mjs'
import { addControlRoutes, listenFastify } from '../common/server-kit.mjs'

const app = Fastify({ logger: false })
const channel = createChannel()

app.get('/events', async (request, reply) => {
  reply.hijack()
  const session = await createSession(request.raw, reply.raw, { keepAlive: 15000, retry: 3000 })
  channel.register(session)
})

addControlRoutes(app, {
  connections: () => channel.sessionCount,
  publish: (seq, size) => {
    channel.broadcast(makeData(seq, size), EVENT_NAME, { eventId: String(seq) })
  }
})

await listenFastify(app)
