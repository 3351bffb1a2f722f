// Every scenario of the Express SSE guide, rewritten with fastify-sse-hub, as one Fastify app.
import Fastify from 'fastify'
import fastifySse from 'fastify-sse-hub'
import { readdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { events, schemas } from './events.mjs'

export async function buildApp (options = {}) {
  const app = Fastify(options.fastify)
  await app.register(fastifySse, {
    events,
    history: 1000, // events kept per topic, so a reconnecting client gets what it missed
    heartbeat: 15_000, // one keep-alive comment timer for all streams, not one per client
    retry: 1000 // the browser reconnects 1 s after a drop
  })

  // --- Basic and advanced server: one broadcast stream --------------------------------------
  app.get('/events', async (request, reply) => {
    const stream = reply.sse() // the 'broadcast' topic
    if (request.method === 'HEAD') return // headers only (a health check): not a visitor
    stream.send({ event: 'message', data: { text: 'Connected to server' } }) // this client only
    stream.closed.then((reason) => {
      if (reason !== 'shutdown') publishUserCount()
    })
    await app.sse.publish({ event: 'user-online', data: { clientId: request.id } })
    await publishUserCount()
  })

  // Streams open on the 'broadcast' topic (/events) in this process.
  const online = () => app.sse.count()

  function publishUserCount () {
    return app.sse.publish({ event: 'user-count', data: { count: online() } })
  }

  // `sent`: the /events streams open in this process when the message was published; it is
  // written to each of them. A client whose connection drops before the bytes arrive gets it
  // from the history when it reconnects with its Last-Event-ID.
  app.post('/broadcast', { schema: { body: schemas.broadcast } }, async (request) => {
    const { id } = await app.sse.publish({ event: 'message', data: { text: request.body.message } })
    return { sent: online(), id }
  })

  app.post('/notify', { schema: { body: schemas.notification } }, async (request) => {
    const { title, message } = request.body
    const { id } = await app.sse.publish({ event: 'notification', data: { title, message } })
    return { ok: true, id }
  })

  // What a page reloads after `sse-reset`: state it derives from events it may have missed.
  app.get('/state', async () => ({ online: online() }))

  // --- Live notifications: one topic per user -------------------------------------------------
  app.get('/events/:userId', { schema: { params: schemas.userParams } }, (request, reply) => {
    const stream = reply.sse({ topics: [`user:${request.params.userId}`] })
    stream.send({ event: 'message', data: { text: 'Connected' } })
  })

  app.post('/notify/:userId', { schema: { params: schemas.userParams, body: schemas.notification } }, async (request) => {
    const { title, message } = request.body
    const { id } = await app.sse.publish({ event: 'notification', data: { title, message }, topic: `user:${request.params.userId}` })
    return { ok: true, id }
  })

  // --- Live analytics: every second, to each client while it is connected ---------------------
  let requests = 0
  app.addHook('onRequest', async () => { requests++ })

  app.get('/analytics', (request, reply) => {
    const stream = reply.sse({ topics: ['analytics'] }) // its own topic: no broadcast events here
    const push = () => stream.send({ event: 'stats', data: stats() })
    push()
    const timer = setInterval(push, 1000)
    stream.closed.then(() => clearInterval(timer)) // or: stream.signal, for APIs that take one
  })

  function stats () {
    const { connections, published } = app.sse.stats()
    return {
      activeUsers: online(),
      connections,
      requests,
      published,
      heapUsedMb: Number((process.memoryUsage().heapUsed / 2 ** 20).toFixed(2)),
      uptime: Number(process.uptime().toFixed(1))
    }
  }

  // --- The page, and the client as an ES module -------------------------------------------------
  const here = dirname(fileURLToPath(import.meta.url))
  const clientDir = dirname(createRequire(import.meta.url).resolve('fastify-sse-hub/client'))
  await serveFiles(app, '/', join(here, 'public'))
  await serveFiles(app, '/client/', clientDir)

  return app
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png'
}

/** Serves the files of `dir` (read when asked, so edits show on reload); `/` is index.html. */
async function serveFiles (app, prefix, dir) {
  const names = new Set((await readdir(dir)).filter((name) => extname(name) in TYPES))
  app.get(`${prefix}:file`, async (request, reply) => {
    const name = request.params.file === '' ? 'index.html' : request.params.file
    if (!names.has(name)) return reply.callNotFound()
    return reply.type(TYPES[extname(name)]).send(await readFile(join(dir, name)))
  })
}
