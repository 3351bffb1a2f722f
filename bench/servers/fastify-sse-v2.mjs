// fastify-sse-v2: `reply.sse(message)` per client; it has no hub, so the app keeps the replies.
import Fastify from 'fastify'
import { FastifySSEPlugin } from 'fastify-sse-v2'
import { EVENT_NAME, makeJson } from '../common/payload.mjs'
import { addControlRoutes, listenFastify } from '../common/server-kit.mjs'

const app = Fastify({ logger: false })
await app.register(FastifySSEPlugin, { retryDelay: 3000 })

const replies = new Set()

app.get('/events', (request, reply) => {
  // The first call sends the headers and the retry line; a comment opens the stream at once.
  reply.sse({ comment: 'open' })
  replies.add(reply)
  request.raw.socket.on('close', () => replies.delete(reply))
})

addControlRoutes(app, {
  connections: () => replies.size,
  publish: (seq, size) => {
    // The library takes `data` as a string: the app stringifies once, the library formats per client.
    const message = { id: String(seq), event: EVENT_NAME, data: makeJson(seq, size) }
    for (const reply of replies) reply.sse(message)
  }
})

await listenFastify(app)
