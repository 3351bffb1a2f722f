import { test } from 'tap'
import { connect as connectHttp2, type ClientHttp2Session, type ClientHttp2Stream, type ServerHttp2Session } from 'node:http2'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect as connectTls, type TLSSocket } from 'node:tls'
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

test('app.close() ends 3,000 open HTTP/1.1 streams promptly', async (t) => {
  const { app, port, streams } = await start()
  const clients = Array.from({ length: 3000 }, () => new RawSseClient(port, '/events'))
  t.teardown(() => { for (const c of clients) c.close() })
  await Promise.all(clients.map((c) => c.until(() => c.items.length > 0, 'priming', 20_000)))
  t.equal(app.sse.stats().connections, 3000)
  const started = process.hrtime.bigint()
  await app.close()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  // About 0.2-0.7 s on an idle machine; the bound only has to catch a hang on a busy CI machine.
  t.ok(ms < 3000, `closed in ${ms.toFixed(0)} ms`)
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

test('HTTP/2 over TLS: a client that stopped reading does not hold app.close(), nor crash the server', async (t) => {
  const fixtures = join(__dirname, 'fixtures')
  const app = Fastify({ http2: true, https: { key: readFileSync(join(fixtures, 'localhost-key.pem')), cert: readFileSync(join(fixtures, 'localhost-cert.pem')) } }) as unknown as FastifyInstance
  await app.register(fastifySse, { heartbeat: 0, maxBufferedBytes: 64 << 20 })
  app.get('/events', (_request, reply) => { reply.sse() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  let raw: TLSSocket | undefined
  const session = connectHttp2(`https://127.0.0.1:${port}`, {
    settings: { initialWindowSize: 2 ** 31 - 1 },
    createConnection: () => (raw = connectTls({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['h2'] }))
  }).on('error', () => {})
  session.on('connect', () => session.setLocalWindowSize(2 ** 31 - 1))
  t.teardown(() => { session.destroy(); raw?.destroy() })
  const request = session.request({ ':path': '/events' }).on('error', () => {})
  await once(request, 'response')
  raw?.pause() // the client reads nothing more: the server's socket fills up
  for (let i = 0; i < 100; i++) {
    await app.sse.publish({ event: 'big', data: 'x'.repeat(64 * 1024) })
    await nextTurn()
  }
  const started = process.hrtime.bigint()
  await app.close()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.ok(ms < 1000, `closed in ${ms.toFixed(0)} ms`)
})

test('HTTP/2: an ordinary request in flight on a session that carried a stream finishes at shutdown', async (t) => {
  const app = Fastify({ http2: true }) as unknown as FastifyInstance
  await app.register(fastifySse)
  app.get('/events', (_request, reply) => { reply.sse() })
  const gate = new HandlerGate()
  app.get('/slow', async () => {
    await gate.pass()
    return { ok: true }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const session = connectHttp2(`http://127.0.0.1:${port}`).on('error', () => {})
  t.teardown(() => session.destroy())
  const events = session.request({ ':path': '/events' }).on('error', () => {})
  events.resume()
  await once(events, 'response')
  const slow = session.request({ ':path': '/slow' })
  let body = ''
  slow.on('data', (chunk: Buffer) => { body += chunk.toString() })
  const response = once(slow, 'response')
  await gate.reached
  const closing = app.close()
  await new Promise((resolve) => setTimeout(resolve, 600)) // longer than the grace for stuck sessions
  gate.open()
  const [headers] = await response as [Record<string, unknown>]
  await once(slow, 'end')
  await closing
  t.equal(headers[':status'], 200)
  t.equal(body, '{"ok":true}')
})

test('HTTP/2: a stream opened by an async handler while the app closes is ended, and its session closed once', async (t) => {
  const gate = new HandlerGate()
  const opened: SseStream[] = []
  const app = Fastify({ http2: true }) as unknown as FastifyInstance
  await app.register(fastifySse)
  app.get('/events', async (_request, reply) => {
    await gate.pass()
    opened.push(reply.sse())
  })
  app.get('/open', (_request, reply) => { opened.push(reply.sse()) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const session = connectHttp2(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`).on('error', () => {})
  t.teardown(() => session.destroy())
  const first = session.request({ ':path': '/open' }).on('error', () => {})
  first.resume()
  await once(first, 'response')
  const late = session.request({ ':path': '/events' }).on('error', () => {})
  late.resume()
  await gate.reached
  const started = process.hrtime.bigint()
  const closing = app.close()
  await new Promise((resolve) => setImmediate(resolve))
  gate.open()
  await closing
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.ok(ms < 1000, `closed in ${ms.toFixed(0)} ms`)
  t.same(await Promise.all(opened.map((s) => s.closed)), ['shutdown', 'shutdown'])
})
