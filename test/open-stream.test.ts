import { test } from 'tap'
import { connect as connectHttp2 } from 'node:http2'
import { once } from 'node:events'
import { connect } from 'node:net'
import { Type } from '@sinclair/typebox'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import type { SseStream } from '../lib/index'

test('HTTP/1.1: status, SSE headers and the priming id frame go out at once', async (t) => {
  const { port } = await listen(t, { retry: 2500 })
  const client = new RawSseClient(port, '/events')
  t.teardown(() => client.close())
  await client.until(() => client.items.length === 2, 'the retry and priming frame')
  const { status, headers } = client.response!
  t.equal(status, 200)
  t.equal(headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(headers['cache-control'], 'no-cache, no-transform')
  t.equal(headers['x-accel-buffering'], 'no')
  t.equal(headers.connection, 'keep-alive')
  t.match(client.body, /^retry: 2500\nid: [0-9a-z]+-0\n\n$/, 'one frame: retry, then the id that marks the hub start')
  t.match(client.firstChunk!.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n[0-9a-f]+\r\nretry: 2500\nid: \S+\n\n\r\n$/, 'headers and frame in one packet')
  t.same(client.items.map((i) => i.kind), ['retry', 'id-only'])
  t.equal(client.events.length, 0, 'the priming frame dispatches no event')
})

test('the priming frame carries the newest id, so a client that drops before any event resumes', async (t) => {
  const { app, port } = await listen(t)
  const first = await app.sse.publish({ event: 'e', data: 1 })
  const client = new RawSseClient(port, '/events')
  t.teardown(() => client.close())
  await client.until(() => client.parser.lastEventId !== '', 'the priming id')
  t.equal(client.parser.lastEventId, first.id)
  t.notMatch(client.body, /retry:/, 'no retry line unless configured')
})

test('headers already set on the reply are kept; content-length is not', async (t) => {
  const { app, port } = await listen(t, {}, (app) => {
    app.addHook('onRequest', async (_request, reply) => { reply.header('access-control-allow-origin', '*') })
    app.get('/events', (_request, reply) => {
      reply.header('x-custom', 'yes').header('content-length', '10').header('set-cookie', ['a=1', 'b=2'])
      return reply.sse()
    })
    // Set on Node's response directly, they would survive the merge in writeHead().
    app.get('/raw', (_request, reply) => {
      reply.raw.setHeader('x-raw', 'yes')
      reply.raw.setHeader('content-length', '10')
      return reply.sse()
    })
  })
  for (const path of ['/events', '/raw']) {
    const client = new RawSseClient(port, path)
    t.teardown(() => client.close())
    await client.until(() => client.parser.lastEventId !== '', 'the priming frame')
    t.equal(client.response!.headers[path === '/raw' ? 'x-raw' : 'x-custom'], 'yes', path)
    t.equal(client.response!.headers['content-length'], undefined, path)
    t.equal(client.response!.headers['transfer-encoding'], 'chunked', path)
    if (path === '/events') t.equal(client.response!.headers['access-control-allow-origin'], '*')
    const { id } = await app.sse.publish({ event: 'after', data: path })
    await client.eventCount(1)
    t.equal(client.events[0].lastEventId, id, `${path}: the stream goes on past the first 10 bytes`)
  }
})

test('handlers may return the stream or not, sync or async, without Fastify warnings', async (t) => {
  const warnings: string[] = []
  const stream = { write (line: string) { if (JSON.parse(line).level >= 40) warnings.push(line) } }
  const events = { hello: Type.Object({ route: Type.String() }) }
  const { port } = await listen(t, { events }, (app) => {
    app.get('/sync-return', (_request, reply) => {
      const s = reply.sse()
      s.send({ event: 'hello', data: { route: 'sync-return' } })
      return s
    })
    app.get('/sync-void', (_request, reply) => { reply.sse().send({ event: 'hello', data: { route: 'sync-void' } }) })
    app.get('/async-return', async (_request, reply) => {
      const s = reply.sse()
      s.send({ event: 'hello', data: { route: 'async-return' } })
      return s
    })
    app.get('/async-void', async (_request, reply) => { reply.sse().send({ event: 'hello', data: { route: 'async-void' } }) })
  }, { logger: { level: 'warn', stream } })
  for (const route of ['sync-return', 'sync-void', 'async-return', 'async-void']) {
    const client = new RawSseClient(port, `/${route}`)
    t.teardown(() => client.close())
    await client.eventCount(1)
    t.same(JSON.parse(client.events[0].data), { route }, route)
    t.equal(client.response!.status, 200)
  }
  t.same(warnings, [], 'nothing logged at warn or above')
})

test('a non-SSE reply on the same app is untouched', async (t) => {
  const { url } = await listen(t, {}, (app) => {
    app.get('/json', async () => ({ ok: true }))
    app.get('/events', (_request, reply) => reply.sse())
  })
  const response = await fetch(`${url}/json`)
  t.same(await response.json(), { ok: true })
})

test('topics must be an array of valid names; no other option is taken', async (t) => {
  const { url } = await listen(t, {}, (app) => {
    app.get('/bad/:kind', (request, reply) => {
      const kind = (request.params as { kind: string }).kind
      const topics = ({ string: 'a', blank: [''], crlf: ['a\r\nb'], number: [1], surrogate: ['user:\ud800'] } as Record<string, unknown>)[kind]
      try {
        if (kind === 'misspelt') reply.sse({ topic: 'user:1' } as never) // must not open a broadcast stream
        reply.sse(kind === 'null' ? null as never : kind === 'text' ? 'a' as never : { topics: topics as string[] })
      } catch (err) {
        return reply.code(500).send({ code: (err as { code: string }).code })
      }
    })
  })
  for (const kind of ['string', 'blank', 'crlf', 'number', 'surrogate', 'misspelt', 'null', 'text']) {
    const response = await fetch(`${url}/bad/${kind}`)
    t.equal(response.status, 500, kind)
    t.same(await response.json(), { code: 'FST_SSE_INVALID_FIELD' }, kind)
  }
})

test('HTTP/2: the same headers without Connection, events flow, close ends the stream', async (t) => {
  const { app, url } = await listen(t, { retry: 1000 }, undefined, { http2: true })
  const session = connectHttp2(url)
  t.teardown(() => session.close())
  const request = session.request({ ':path': '/events' })
  const [headers] = await once(request, 'response') as [Record<string, string>]
  t.equal(headers[':status'], 200)
  t.equal(headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(headers['cache-control'], 'no-cache, no-transform')
  t.equal(headers['x-accel-buffering'], 'no')
  t.equal(headers.connection, undefined)
  request.setEncoding('utf8')
  let body = ''
  const { id } = await app.sse.publish({ event: 'h2', data: { ok: true } })
  for await (const chunk of request) {
    body += chunk
    if (body.includes('event: h2')) break
  }
  t.match(body, /^retry: 1000\nid: [0-9a-z]+-0\n\n/)
  t.ok(body.includes(`id: ${id}\nevent: h2\ndata: {"ok":true}\n\n`))
})

test('returning something else after reply.sse() gets Fastify\'s usual already-sent warning', async (t) => {
  const warnings: string[] = []
  const stream = { write (line: string) { if (JSON.parse(line).level === 40) warnings.push(JSON.parse(line).err?.code) } }
  const { port } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => {
      reply.sse()
      return { not: 'a stream' }
    })
  }, { logger: { level: 'warn', stream } })
  const client = new RawSseClient(port, '/events')
  t.teardown(() => client.close())
  await client.until(() => client.items.length > 0, 'the priming frame')
  t.same(warnings, ['FST_ERR_REP_ALREADY_SENT'])
})

test('a header Node refuses fails before the stream exists: Fastify answers the error, nothing leaks', async (t) => {
  const { app, url } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => {
      reply.header('x-name', '✓')
      return reply.sse()
    })
  })
  const response = await fetch(`${url}/events`)
  t.equal(response.status, 500)
  t.equal(((await response.json()) as { code: string }).code, 'ERR_INVALID_CHAR')
  t.equal(app.sse.stats().connections, 0)
})

test('reply.sse() twice on one reply throws on the second call; the first stream is unaffected', async (t) => {
  let second: unknown
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => {
      const stream = reply.sse()
      try { reply.sse() } catch (err) { second = err }
      return stream
    })
  })
  const client = new RawSseClient(port, '/events')
  t.teardown(() => client.close())
  await client.until(() => client.items.length > 0, 'the priming frame')
  t.match(second, { code: 'ERR_HTTP_HEADERS_SENT' })
  t.equal(app.sse.stats().connections, 1)
  await app.sse.publish({ event: 'still', data: 'works' })
  await client.eventCount(1)
})

test('HEAD gets the stream headers and an empty body; the handler runs unchanged; the keep-alive connection goes on', async (t) => {
  const results: Array<{ method: string, reason: string, aborted: boolean }> = []
  const errors: unknown[] = []
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', (request, reply) => {
      const stream = reply.sse()
      try {
        stream.send({ event: 'welcome', data: 'hi' }) // as the guide's handler does
        stream.comment('hello')
      } catch (err) { errors.push(err) }
      stream.closed.then((reason) => results.push({ method: request.method, reason, aborted: stream.signal.aborted }), () => {})
      return stream
    })
  })
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.write('HEAD /events HTTP/1.1\r\nHost: x\r\n\r\nGET /events HTTP/1.1\r\nHost: x\r\n\r\n')
  let received = ''
  socket.setEncoding('latin1')
  for await (const chunk of socket) {
    received += chunk
    // Node 24 sends a corked send and comment as one chunk, Node 20 and 22 as two
    if (/event: welcome\ndata: "hi"\n\n(\r\n[0-9a-f]+\r\n)?: hello\n\n\r\n$/.test(received)) break
  }
  const [head, get] = received.split(/(?=HTTP\/1\.1 200 OK\r\n)/)
  t.match(head, /^HTTP\/1\.1 200 OK\r\n[^]*content-type: text\/event-stream; charset=utf-8\r\n[^]*connection: keep-alive\r\n[^]*\r\n\r\n$/i, 'headers only')
  t.notMatch(head, /transfer-encoding|content-length/i)
  t.match(get, /transfer-encoding: chunked\r\n\r\n[0-9a-f]+\r\nid: \S+\n\n\r\n/i, 'the GET behind it is answered with its stream')
  t.same(errors, [], 'send and comment do not throw while the handler runs')
  t.same(results, [{ method: 'HEAD', reason: 'server', aborted: true }], 'the HEAD stream has ended')
  t.equal(app.sse.stats().connections, 1, 'only the GET stream is open')
})

test('a client that asks to close gets Connection: close, and the connection closes when the stream ends', async (t) => {
  const { port } = await listen(t)
  for (const method of ['HEAD', 'GET']) {
    const socket = connect(port, '127.0.0.1')
    t.teardown(() => socket.destroy())
    socket.write(`${method} /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    let received = ''
    socket.setEncoding('latin1')
    if (method === 'GET') {
      for await (const chunk of socket) {
        received += chunk
        if (/\r\n\r\n[0-9a-f]+\r\nid: \S+\n\n\r\n$/.test(received)) break
      }
      t.match(received, /\r\nConnection: close\r\n/i, method)
      t.notMatch(received, /keep-alive/i, method)
    } else {
      for await (const chunk of socket) received += chunk // the server closes the connection
      t.match(received, /^HTTP\/1\.1 200 OK\r\n[^]*\r\nConnection: close\r\n/i, method)
      t.match(received, /\r\n\r\n$/, `${method}: no body`)
    }
  }
})

test('a connection at maxRequestsPerSocket gets Connection: close, as Node would say', async (t) => {
  const { port } = await listen(t, {}, undefined, { maxRequestsPerSocket: 1 })
  const client = new RawSseClient(port, '/events')
  t.teardown(() => client.close())
  await client.opened()
  t.equal(client.response!.headers.connection, 'close')
})

test('HTTP/2 HEAD ends at once: headers only, the stream ended, nothing left open', async (t) => {
  let head: SseStream | undefined
  const { app, url } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => {
      head = reply.sse()
      head.send({ event: 'ignored', data: 1 })
      return head
    })
  }, { http2: true })
  const session = connectHttp2(url)
  t.teardown(() => session.close())
  const request = session.request({ ':method': 'HEAD', ':path': '/events' })
  const [headers] = await once(request, 'response') as [Record<string, string>]
  t.equal(headers['content-type'], 'text/event-stream; charset=utf-8')
  let body = ''
  request.on('data', (chunk: Buffer) => { body += chunk.toString() })
  await once(request, 'end')
  t.equal(body, '')
  t.equal(await head?.closed, 'server')
  t.equal(head?.signal.aborted, true)
  t.equal(app.sse.stats().connections, 0)
})

test('fastify.inject() sees the whole stream, first frame included', async (t) => {
  const { app } = await listen(t, { retry: 1000 }, (app) => {
    app.get('/events', (_request, reply) => {
      const stream = reply.sse()
      setImmediate(() => {
        stream.send({ event: 'one', data: 1 })
        stream.close()
      })
      return stream
    })
  })
  const response = await app.inject({ url: '/events' })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], 'text/event-stream; charset=utf-8')
  t.match(response.payload, /^retry: 1000\nid: \S+\n\nevent: one\ndata: 1\n\n$/)
})

test('an HTTP/1.0 client gets the stream without chunked encoding, and no keep-alive', async (t) => {
  const { app, port } = await listen(t)
  const client = new RawSseClient(port, '/events', {}, { version: '1.0' })
  t.teardown(() => client.close())
  await client.until(() => client.parser.lastEventId !== '', 'the priming frame')
  t.equal(client.response!.headers['transfer-encoding'], undefined)
  t.equal(client.response!.headers.connection, 'close')
  const { id } = await app.sse.publish({ event: 'old', data: 1 })
  await client.eventCount(1)
  t.match(client.body, new RegExp(`^id: \\S+\\n\\nid: ${id}\\nevent: old\\ndata: 1\\n\\n$`))
  await app.close()
  await client.closed()
  t.ok(client.ended, 'the body ends with the connection')
})
