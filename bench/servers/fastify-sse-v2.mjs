// fastify-sse-v2: `reply.sse(message)` per client; it has no hub, so the app keeps the replies.
import Fastify from 'fastify'
import { FastifySSEPlugin } from 'fastify-sse-v2'
import { EVENT_NAME, makeJson } from '../common/payload.mjs'
import { addControlRoutes, listenFastify } from '../common/server-kit.mjs'
import { JSON_TOKEN_EVENT, TOKEN_EVENT, answer, answerStats, parseAnswer, stallProgress } from '../common/tokens.mjs'

const app = Fastify({ logger: false })
await app.register(FastifySSEPlugin, { retryDelay: 3000 })

const replies = new Set()

app.get('/events', (request, reply) => {
  // The first call sends the headers and the retry line; a comment opens the stream at once.
  reply.sse({ comment: 'open' })
  replies.add(reply)
  request.raw.socket.on('close', () => replies.delete(reply))
})

// The answers cells (issue 11): the answer handed to `reply.sse()`, as its README streams an
// async iterable (made a Readable, highWaterMark 16 KiB by default, piped to the response, which
// it ends). `data` is a string: JSON tokens are stringified by the app.
const textToken = (seq, data) => ({ event: TOKEN_EVENT, data })
const jsonToken = (seq, data) => ({ event: JSON_TOKEN_EVENT, data: JSON.stringify(data) })
app.get('/answer', (request, reply) => {
  const spec = parseAnswer(request.query)
  // What the library queues in front of the response: the Readables it pipes into it.
  const piped = []
  reply.raw.on('pipe', (source) => piped.push(source))
  const extra = () => piped.reduce((sum, source) => sum + source.readableLength, 0)
  reply.sse(answer(spec, spec.json ? jsonToken : textToken, stallProgress(spec, reply.raw, extra)))
})
app.get('/answer-stats', async () => answerStats({ highWaterMark: 16_384, asserted: false }))

addControlRoutes(app, {
  connections: () => replies.size,
  publish: (seq, size) => {
    // The library takes `data` as a string: the app stringifies once, the library formats per client.
    const message = { id: String(seq), event: EVENT_NAME, data: makeJson(seq, size) }
    for (const reply of replies) reply.sse(message)
  }
})

await listenFastify(app)
