import { test, type Test } from 'tap'
import { once } from 'node:events'
import { connect as connectHttp2 } from 'node:http2'
import { Type } from '@sinclair/typebox'
import { HandlerGate, listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import type { SseStream } from '../lib/index'

const events = { status: Type.Object({ cpu: Type.Number() }) }

/** An app whose /events route hands each stream to the test. */
async function withStreams (t: Test, options = {}) {
  const streams: SseStream[] = []
  const waiting: Array<(s: SseStream) => void> = []
  const ctx = await listen(t, { events, ...options }, (app) => {
    app.get('/events', (_request, reply) => {
      const stream = reply.sse()
      streams.push(stream)
      waiting.shift()?.(stream)
    })
  })
  const open = async (headers: Record<string, string> = {}, path = '/events') => {
    const got = new Promise<SseStream>((resolve) => waiting.push(resolve))
    const client = new RawSseClient(ctx.port, path, headers)
    t.teardown(() => client.close())
    return { client, stream: await got }
  }
  return { ...ctx, streams, open }
}

test('send goes to one client only, without an id, checked like publish', async (t) => {
  const { open } = await withStreams(t)
  const a = await open()
  const b = await open()
  a.stream.send({ event: 'status', data: { cpu: 0.5 } })
  await a.client.eventCount(1)
  t.same(a.client.events[0], { type: 'status', data: '{"cpu":0.5}', lastEventId: a.client.parser.lastEventId })
  t.notMatch(a.client.body.split('event: status')[0].split('\n\n').at(-1), /id:/, 'the sent frame has no id line')
  t.throws(() => a.stream.send({ event: 'status', data: { cpu: 'high' } } as never), { code: 'FST_SSE_INVALID_DATA' })
  t.throws(() => a.stream.send({ event: 'nope', data: {} } as never), { code: 'FST_SSE_UNKNOWN_EVENT' })
  t.throws(() => a.stream.send({ event: 'nope', data: {}, id: '1' } as never), { code: 'FST_SSE_INVALID_FIELD', message: /takes no `id`/ }, 'the id check comes before the name lookup')
  t.throws(() => a.stream.send({ event: 'status', data: { cpu: 1 }, topic: 'x' } as never), { code: 'FST_SSE_INVALID_FIELD', message: /takes no "topic"/ })
  t.throws(() => a.stream.send(null as never), { code: 'FST_SSE_INVALID_FIELD', message: /takes an object/ })
  t.throws(() => a.stream.send('status' as never), { code: 'FST_SSE_INVALID_FIELD', message: /takes an object/ })
  b.stream.comment('only b')
  await b.client.until(() => b.client.comments.includes(' only b'), 'the comment')
  t.equal(b.client.events.length, 0, 'b never got a\'s event')
  t.equal(a.client.events.length, 1, 'a got no invalid event')
})

test('comments: text, bare, and no line breaks', async (t) => {
  const { open } = await withStreams(t)
  const { client, stream } = await open()
  stream.comment('')
  stream.comment('hello')
  await client.until(() => client.comments.length === 2, 'two comments')
  t.match(client.body, /\n\n:\n\n: hello\n\n$/)
  t.throws(() => stream.comment('a\nb'), { code: 'FST_SSE_INVALID_FIELD' })
  t.throws(() => stream.comment('a\rb'), { code: 'FST_SSE_INVALID_FIELD' })
  t.throws(() => stream.comment(5 as never), { code: 'FST_SSE_INVALID_FIELD' })
})

test('close(): the stream ends with reason server; writes after it throw', async (t) => {
  const { app, open } = await withStreams(t)
  const { client, stream } = await open()
  const signal = stream.signal
  t.equal(signal.aborted, false)
  stream.close()
  t.equal(await stream.closed, 'server')
  t.equal(signal.aborted, true)
  t.equal(signal.reason, 'server')
  await client.until(() => client.ended, 'the end of the response')
  t.throws(() => stream.send({ event: 'status', data: { cpu: 1 } }), { code: 'FST_SSE_STREAM_CLOSED', message: /cannot send/ })
  t.throws(() => stream.comment('x'), { code: 'FST_SSE_STREAM_CLOSED', message: /cannot comment/ })
  stream.close()
  t.equal(await stream.closed, 'server', 'closing twice changes nothing')
  t.equal(stream.signal.aborted, true)
  t.equal(app.sse.stats().connections, 0)
  const other = await open()
  other.stream.close()
  t.equal(other.stream.signal.aborted, true, 'a signal first read after the end is already aborted')
  t.equal(other.stream.signal.reason, 'server')
  t.equal(await other.stream.closed, 'server', 'closed first read after the end resolves at once')
})

test('a client that goes away: closed resolves with client, signal aborts, stats drop', async (t) => {
  const { app, open } = await withStreams(t)
  const { client, stream } = await open()
  t.equal(app.sse.stats().connections, 1)
  const aborted = new Promise((resolve) => stream.signal.addEventListener('abort', resolve))
  client.close()
  t.equal(await stream.closed, 'client')
  await aborted
  t.equal(app.sse.stats().connections, 0)
  const late = stream.closed
  t.equal(await late, 'client')
})

test('lastEventId: from the header, else the query; the header wins', async (t) => {
  const { open } = await withStreams(t)
  t.equal((await open()).stream.lastEventId, undefined)
  t.equal((await open({ 'Last-Event-ID': 'from-header' })).stream.lastEventId, 'from-header')
  t.equal((await open({}, '/events?lastEventId=from-query')).stream.lastEventId, 'from-query')
  t.equal((await open({ 'Last-Event-ID': 'h' }, '/events?lastEventId=q')).stream.lastEventId, 'h')
  t.equal((await open({ 'Last-Event-ID': '' })).stream.lastEventId, undefined, 'an empty header is no id')
})

test('the lastEventId query parameter counts even when the route\'s query schema strips it', async (t) => {
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', {
      schema: { querystring: { type: 'object', properties: { room: { type: 'string' } }, additionalProperties: false } }
    }, (_request, reply) => reply.sse())
  })
  const one = await app.sse.publish({ event: 'e', data: 1 })
  await app.sse.publish({ event: 'e', data: 2 })
  const client = new RawSseClient(port, `/events?room=a&lastEventId=${encodeURIComponent(one.id)}`)
  t.teardown(() => client.close())
  await client.eventCount(1)
  t.same(client.events.map((e) => e.data), ['2'])
})

test('topics are exposed and deduplicated', async (t) => {
  const { open } = await withStreams(t)
  const { stream } = await open()
  t.same(stream.topics, ['broadcast'])
})

test('a client that left before an async handler opened the stream: ended at once, never counted', async (t) => {
  const gate = new HandlerGate<import('node:http').ServerResponse>()
  const opened: SseStream[] = []
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', async (_request, reply) => {
      await gate.pass(reply.raw)
      opened.push(reply.sse())
    })
  })
  const client = new RawSseClient(port, '/events')
  const res = await gate.reached
  client.close()
  await once(client.socket, 'close')
  for (let turns = 0; !res.destroyed && turns < 1000; turns++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(res.destroyed, true, 'the server saw the client leave')
  gate.open()
  await gate.opened
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(opened.length, 1)
  t.equal(await opened[0].closed, 'client')
  t.equal(opened[0].signal.aborted, true)
  t.throws(() => opened[0].comment('x'), { code: 'FST_SSE_STREAM_CLOSED' })
  t.equal(app.sse.stats().connections, 0)
})

test('HTTP/2: a client that left before an async handler opened the stream is not counted', async (t) => {
  const gate = new HandlerGate<import('node:http2').Http2ServerResponse>()
  const opened: SseStream[] = []
  const { app, url } = await listen(t, {}, (app) => {
    app.get('/events', async (_request, reply) => {
      await gate.pass(reply.raw as unknown as import('node:http2').Http2ServerResponse)
      opened.push(reply.sse())
    })
  }, { http2: true })
  const session = connectHttp2(url).on('error', () => {})
  t.teardown(() => session.destroy())
  const request = session.request({ ':path': '/events' }).on('error', () => {})
  const res = await gate.reached
  request.close() // RST_STREAM: the client is gone
  await once(request, 'close')
  for (let turns = 0; !res.stream.destroyed && turns < 1000; turns++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(res.stream.destroyed, true, 'the server saw the client leave')
  gate.open()
  await gate.opened
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(await opened[0].closed, 'client')
  t.equal(app.sse.stats().connections, 0)
  await app.sse.publish({ event: 'e', data: 1 })
  t.equal(app.sse.stats().connections, 0)
})
