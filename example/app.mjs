// Every scenario of the Express SSE guide, rewritten with fastify-sse-hub, as one Fastify app,
// plus resumable answers (/answers) and an OpenAI-compatible endpoint (/v1/chat/completions).
import Fastify from 'fastify'
import fastifySse from 'fastify-sse-hub'
import { readdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { answerRoutes } from './answer-routes.mjs'
import { events, schemas } from './events.mjs'
import { openaiRoutes } from './openai.mjs'

/** `tokenDelayMs`: the stand-in model's pace, ms per token (default 8). */
export async function buildApp (options = {}) {
  const app = Fastify(options.fastify)
  await app.register(fastifySse, {
    events,
    // Events kept per topic, so a reconnecting client gets what it missed; an answer keeps all
    // of its tokens, so a page that reloads mid-answer gets it whole.
    history: (topic) => topic.startsWith('answer:') ? 20_000 : 1000,
    heartbeat: 15_000, // one keep-alive comment timer for all streams, not one per client
    retry: 1000 // the browser reconnects 1 s after a drop
  })

  // --- The page's one stream: broadcast (basic and advanced server), the user's own topic and
  // the analytics. Browsers allow six HTTP/1.1 connections per host across all tabs, and each open
  // stream holds one: a page with a stream per scenario would block its own requests in two tabs.
  app.get('/events', { schema: { querystring: schemas.eventsQuery } }, async (request, reply) => {
    const { user } = request.query // in a real app: from the session, never from the URL
    const stream = reply.sse({ topics: user === undefined ? ['broadcast', 'analytics'] : ['broadcast', `user:${user}`, 'analytics'] })
    if (request.method === 'HEAD') return // headers only (a health check): not a visitor
    stream.send({ event: 'message', data: { text: 'Connected to server' } }) // this client only
    stream.send({ event: 'stats', data: stats() }) // the dashboard at once, not in a second
    stream.closed.then((reason) => {
      if (reason !== 'shutdown') publishUserCount()
    })
    await app.sse.publish({ event: 'user-online', data: { clientId: request.id } })
    await publishUserCount()
  })

  // Streams open on the 'broadcast' topic (the pages' /events) in this process.
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

  // --- Live notifications: one topic per user, `user:<id>`, on the page's stream ----------------
  app.post('/notify/:userId', { schema: { params: schemas.userParams, body: schemas.notification } }, async (request) => {
    const { title, message } = request.body
    const { id } = await app.sse.publish({ event: 'user-notification', data: { title, message }, topic: `user:${request.params.userId}` })
    return { ok: true, id }
  })

  // --- Live analytics: one timer publishes to the 'analytics' topic every second ---------------
  let requests = 0
  app.addHook('onRequest', async () => { requests++ })

  const analytics = setInterval(() => {
    if (app.sse.count('analytics') === 0) return // nobody watching
    app.sse.publish({ event: 'stats', data: stats(), topic: 'analytics' }).catch((err) => app.log.error({ err }, 'stats not published'))
  }, 1000).unref()
  app.addHook('preClose', async () => clearInterval(analytics))

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

  // --- Resumable answers, and an OpenAI-compatible endpoint, both from a stand-in model ---------
  const tokenDelayMs = options.tokenDelayMs ?? 8
  await app.register(answerRoutes, { tokenDelayMs })
  await app.register(openaiRoutes, { prefix: '/v1', tokenDelayMs })

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
