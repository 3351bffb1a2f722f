import { test } from 'tap'
import { connect as connectHttp2, type ClientHttp2Session, type ClientHttp2Stream, type ServerHttp2Session } from 'node:http2'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { once } from 'node:events'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifySse, { type SseStream } from '../lib/index'
import { HandlerGate } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'

async function start (http2 = false): Promise<{ app: FastifyInstance, port: number, streams: SseStream[] }> {
  const streams: SseStream[] = []
  const app = (http2 ? Fastify({ http2: true }) : Fastify()) as unknown as FastifyInstance
  await app.register(fastifySse, { heartbeat: 1000 })
  app.get('/events', (_request, reply) => { streams.push(reply.sse()) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, port: (app.server.address() as { port: number }).port, streams }
}

test('app.close() ends 3,000 open HTTP/1.1 streams in well under a second', async (t) => {
  const { app, port, streams } = await start()
  const clients = Array.from({ length: 3000 }, () => new RawSseClient(port, '/events'))
  t.teardown(() => { for (const c of clients) c.close() })
  await Promise.all(clients.map((c) => c.until(() => c.items.length > 0, 'priming', 20_000)))
  t.equal(app.sse.stats().connections, 3000)
  const started = process.hrtime.bigint()
  await app.close()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.ok(ms < 1000, `closed in ${ms.toFixed(0)} ms`)
  const reasons = await Promise.all(streams.map((s) => s.closed))
  t.ok(reasons.every((r) => r === 'shutdown'), 'every stream ended with reason shutdown')
  await Promise.all(clients.map((c) => c.closed()))
  t.pass('every client saw its connection end')
})

test('app.close() ends 900 HTTP/2 streams on 10 sessions, and the sessions, promptly', async (t) => {
  const { app, port, streams } = await start(true)
  const sessions = Array.from({ length: 10 }, () => connectHttp2(`http://127.0.0.1:${port}`).on('error', () => {}))
  const requests = sessions.flatMap((session) => Array.from({ length: 90 }, () => session.request({ ':path': '/events' })))
  await Promise.all(requests.map((r) => once(r, 'response')))
  const ended = requests.map((r) => { r.resume(); return once(r, 'close') })
  const started = process.hrtime.bigint()
  await app.close()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.ok(ms < 1000, `closed in ${ms.toFixed(0)} ms`)
  await Promise.all(ended)
  t.same(new Set(await Promise.all(streams.map((s) => s.closed))), new Set(['shutdown']))
  t.equal(streams.length, 900)
  await Promise.all(sessions.map((session) => session.closed ? undefined : once(session, 'close')))
  t.pass('the server closed every session')
})

test('close() with no stream open', async (t) => {
  const app = Fastify()
  await app.register(fastifySse)
  app.get('/events', (_request, reply) => reply.sse())
  await app.ready()
  await app.close()
  t.equal(app.sse.stats().connections, 0)
})

test('a stream opened by an async handler while the app closes is ended at once: close never hangs', async (t) => {
  const gate = new HandlerGate()
  const opened: SseStream[] = []
  const app = Fastify()
  await app.register(fastifySse)
  app.get('/events', async (_request, reply) => {
    await gate.pass()
    opened.push(reply.sse())
  })
  let preCloseDone = () => {}
  const afterPreClose = new Promise<void>((resolve) => { preCloseDone = resolve })
  app.addHook('preClose', async () => { preCloseDone() }) // runs after the plugin's own
  await app.listen({ port: 0, host: '127.0.0.1' })
  const client = new RawSseClient((app.server.address() as { port: number }).port, '/events')
  t.teardown(() => client.close())
  await gate.reached
  const started = process.hrtime.bigint()
  const closing = app.close()
  await afterPreClose
  gate.open()
  await closing
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.ok(ms < 1000, `closed in ${ms.toFixed(0)} ms`)
  t.equal(await opened[0].closed, 'shutdown')
  await client.closed()
  t.pass('its connection was closed too')
})

test('HTTP/2: app.close() does not wait on clients that stopped reading, nor on sessions whose stream ended', async (t) => {
  const { app, port, streams } = await start(true)
  const serverSessions: ServerHttp2Session[] = []
  app.server.on('session', (session: ServerHttp2Session) => serverSessions.push(session))
  const open = async (): Promise<{ session: ClientHttp2Session, request: ClientHttp2Stream }> => {
    const session = connectHttp2(`http://127.0.0.1:${port}`).on('error', () => {})
    const request = session.request({ ':path': '/events' }).on('error', () => {})
    await once(request, 'response')
    return { session, request }
  }
  const big = await open() // stops reading with a backlog the server still holds (not past maxBufferedBytes)
  const small = await open() // stops reading with a few KiB inside HTTP/2's flow-control window
  const ended = await open() // its stream was closed by the server earlier: an idle session
  big.request.pause()
  small.request.pause()
  ended.request.resume()
  streams[2].close()
  for (let i = 0; i < 40; i++) {
    await app.sse.publish({ event: 'big', data: 'x'.repeat(8 * 1024), topic: 'broadcast' })
    await nextTurn()
  }
  t.equal(app.sse.stats().connections, 2)
  const started = process.hrtime.bigint()
  await app.close()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.ok(ms < 1000, `closed in ${ms.toFixed(0)} ms`)
  t.same(await Promise.all(streams.map((s) => s.closed)), ['shutdown', 'shutdown', 'server'])
  t.equal(serverSessions.length, 3)
  t.ok(serverSessions.every((session) => session.destroyed), 'the server closed every session')
  for (const { session } of [big, small, ended]) session.destroy()
})
