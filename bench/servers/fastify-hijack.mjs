// Ceiling inside Fastify: a hand-written route that hijacks the reply; each event encoded
// once into a Buffer written to every response. Nothing but the fan-out.
import Fastify from 'fastify'
import { EVENT_NAME, makeJson } from '../common/payload.mjs'
import { addControlRoutes, listenFastify } from '../common/server-kit.mjs'

const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive'
}
const app = Fastify({ logger: false })
const responses = new Set()

app.get('/events', (request, reply) => {
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, HEADERS)
  res.flushHeaders()
  responses.add(res)
  res.on('close', () => responses.delete(res))
})

addControlRoutes(app, {
  connections: () => responses.size,
  publish: (seq, size) => {
    const frame = Buffer.from(`id: ${seq}\nevent: ${EVENT_NAME}\ndata: ${makeJson(seq, size)}\n\n`)
    for (const res of responses) res.write(frame)
  }
})

await listenFastify(app)
