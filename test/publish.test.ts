import { test, type Test } from 'tap'
import { Type } from '@sinclair/typebox'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'

const events = {
  notification: Type.Object({ title: Type.String(), message: Type.String() }),
  'user-count': Type.Object({ count: Type.Integer({ minimum: 0 }) })
}

async function primed (t: Test, port: number, path = '/events'): Promise<RawSseClient> {
  const client = new RawSseClient(port, path)
  t.teardown(() => client.close())
  await client.until(() => client.parser.lastEventId !== '', `the priming frame of ${path}`)
  return client
}

test('publish resolves to the id clients receive; ids follow one sequence', async (t) => {
  const { app, port } = await listen(t, { events })
  const client = await primed(t, port)
  const a = await app.sse.publish({ event: 'notification', data: { title: 'Hi', message: 'there' } })
  const b = await app.sse.publish({ event: 'user-count', data: { count: 3 } })
  await client.eventCount(2)
  t.same(client.events, [
    { type: 'notification', data: '{"title":"Hi","message":"there"}', lastEventId: a.id },
    { type: 'user-count', data: '{"count":3}', lastEventId: b.id }
  ])
  const [epochA, seqA] = a.id.split('-')
  const [epochB, seqB] = b.id.split('-')
  t.equal(epochA, epochB)
  t.equal(Number(seqB), Number(seqA) + 1)
  t.has(app.sse.stats(), { connections: 1, published: 2, dropped: 0 })
})

test('fastify.sse methods work detached from it', async (t) => {
  const { app, port } = await listen(t)
  const client = await primed(t, port)
  const { publish, stats, count } = app.sse
  const { id } = await publish({ event: 'e', data: 1 })
  await client.eventCount(1)
  t.equal(client.events[0].lastEventId, id)
  t.has(stats(), { connections: 1, published: 1, dropped: 0 })
  t.equal(count(), 1)
  t.ok(Object.isFrozen(app.sse), 'and it cannot be patched by accident')
})

test('bad input is refused with a code, and nothing is stored or sent', async (t) => {
  const { app, port } = await listen(t, { events })
  const client = await primed(t, port)
  const bad: Array<[unknown, string, RegExp?]> = [
    [{ event: 'nope', data: {} }, 'FST_SSE_UNKNOWN_EVENT', /"nope".*known: notification, user-count/],
    [{ event: 'user-count', data: { count: -1 } }, 'FST_SSE_INVALID_DATA', /"user-count": \/count: /],
    [{ event: 'user-count', data: 'x' }, 'FST_SSE_INVALID_DATA', /"user-count": \/: /],
    [{ event: 'notification', data: { title: 'x' } }, 'FST_SSE_INVALID_DATA', /\/message/],
    [{ event: '', data: {} }, 'FST_SSE_INVALID_FIELD', /event name must be a non-empty string/],
    [{ event: 42, data: {} }, 'FST_SSE_INVALID_FIELD', /got number/],
    [{ event: 'user-count\nevil', data: { count: 1 } }, 'FST_SSE_INVALID_FIELD', /CR, LF or NUL/],
    [{ event: 'user-count', data: { count: 1 }, topic: undefined }, 'FST_SSE_INVALID_FIELD', /topic must be a non-empty string, got undefined/],
    [{ event: 'user-count', data: { count: 1 }, topic: null }, 'FST_SSE_INVALID_FIELD', /got null/],
    [{ event: 'user-count', data: { count: 1 }, topic: '' }, 'FST_SSE_INVALID_FIELD'],
    [{ event: 'user-count', data: { count: 1 }, topic: ['a'] }, 'FST_SSE_INVALID_FIELD', /got an array/],
    [{ event: 'user-count', data: { count: 1 }, topic: 'a\0b' }, 'FST_SSE_INVALID_FIELD'],
    [{ event: 'user-count', data: { count: 1 }, id: 'x' }, 'FST_SSE_INVALID_FIELD', /assigns ids/],
    [{ event: 'user-count', data: { count: 1 }, topics: ['user:1'] }, 'FST_SSE_INVALID_FIELD', /takes no "topics"/],
    [{ event: 'user-count', data: { count: 1 }, topic: 'user:\ud800' }, 'FST_SSE_INVALID_FIELD', /lone surrogate/],
    [{ event: 'user-count\udfff', data: { count: 1 } }, 'FST_SSE_INVALID_FIELD', /lone surrogate/],
    [{ event: 'sse-reset', data: { lastEventId: 'x', reason: 'unknown' } }, 'FST_SSE_INVALID_FIELD', /"sse-reset" is reserved/],
    [null, 'FST_SSE_INVALID_FIELD'],
    ['user-count', 'FST_SSE_INVALID_FIELD']
  ]
  for (const [message, code, text] of bad) {
    await t.rejects(app.sse.publish(message as never), { code, ...(text ? { message: text } : {}) }, `${JSON.stringify(message)} -> ${code}`)
  }
  t.equal(app.sse.stats().published, 0)
  const ok = await app.sse.publish({ event: 'user-count', data: { count: 1 } })
  await client.eventCount(1)
  t.equal(client.events.length, 1, 'only the valid event was sent')
  t.match(ok.id, /-1$/, 'refused events took no id')
})

test('without an events map: any name, any JSON data; unserialisable data is refused', async (t) => {
  const { app, port } = await listen(t)
  const client = await primed(t, port)
  await app.sse.publish({ event: 'anything', data: [1, 'two', { three: null }] })
  await app.sse.publish({ event: 'text', data: 'multi\nline' })
  await t.rejects(app.sse.publish({ event: 'sse-reset', data: {} }), { code: 'FST_SSE_INVALID_FIELD', message: /reserved/ }, 'no spoofed resets')
  await t.rejects(app.sse.publish({ event: 'x', data: undefined }), { code: 'FST_SSE_INVALID_DATA', message: /not JSON-serialisable \(undefined\)/ })
  await t.rejects(app.sse.publish({ event: 'x', data: 10n }), { code: 'FST_SSE_INVALID_DATA', message: /BigInt/ })
  const circular: Record<string, unknown> = {}
  circular.self = circular
  await t.rejects(app.sse.publish({ event: 'x', data: circular }), { code: 'FST_SSE_INVALID_DATA' })
  await client.eventCount(2)
  t.same(client.events.map((e) => [e.type, e.data]), [['anything', '[1,"two",{"three":null}]'], ['text', '"multi\\nline"']])
})

test('topics: broadcast by default, per-user topics, and streams on several topics', async (t) => {
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => reply.sse())
    app.get('/events/:userId', (request, reply) =>
      reply.sse({ topics: [`user:${(request.params as { userId: string }).userId}`] }))
    app.get('/both/:userId', (request, reply) =>
      reply.sse({ topics: ['broadcast', `user:${(request.params as { userId: string }).userId}`, 'broadcast'] }))
  })
  const everyone = await primed(t, port)
  const alice = await primed(t, port, '/events/alice')
  const bob = await primed(t, port, '/events/bob')
  const aliceBoth = await primed(t, port, '/both/alice')
  await app.sse.publish({ event: 'm', data: 'all-1' })
  await app.sse.publish({ event: 'm', data: 'alice-1', topic: 'user:alice' })
  await app.sse.publish({ event: 'm', data: 'bob-1', topic: 'user:bob' })
  await app.sse.publish({ event: 'm', data: 'all-2', topic: 'broadcast' })
  await app.sse.publish({ event: 'm', data: 'alice-2', topic: 'user:alice' })
  await aliceBoth.eventCount(4)
  await everyone.eventCount(2)
  await alice.eventCount(2)
  await bob.eventCount(1)
  const data = (c: RawSseClient): string[] => c.events.map((e) => JSON.parse(e.data))
  t.same(data(everyone), ['all-1', 'all-2'])
  t.same(data(alice), ['alice-1', 'alice-2'])
  t.same(data(bob), ['bob-1'])
  t.same(data(aliceBoth), ['all-1', 'alice-1', 'all-2', 'alice-2'], 'publish order across topics, no duplicates')
  t.equal(app.sse.count(), 2, 'two streams on broadcast')
  t.equal(app.sse.count('user:alice'), 2)
  t.equal(app.sse.count('user:bob'), 1)
  t.equal(app.sse.count('user:nobody'), 0)
  await app.sse.publish({ event: 'm', data: 'late', topic: 'user:nobody' })
  t.equal(app.sse.stats().published, 6, 'events to topics with no stream still count')
})

test('a burst published in one turn reaches every client complete and in order', async (t) => {
  const { app, port } = await listen(t)
  const clients = await Promise.all(Array.from({ length: 20 }, () => primed(t, port)))
  const ids: string[] = []
  for (let i = 0; i < 500; i++) ids.push((await app.sse.publish({ event: 'n', data: i })).id)
  for (const client of clients) {
    await client.eventCount(500)
    t.same(client.events.map((e) => e.lastEventId), ids)
  }
})

test('close() right after publish or send: the events are written first, then the stream ends', async (t) => {
  const streams: import('../lib/index').SseStream[] = []
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => { streams.push(reply.sse({ topics: ['solo'] })) })
  })
  const c = await primed(t, port)
  await app.sse.publish({ event: 'e', data: 'published', topic: 'solo' })
  streams[0].send({ event: 'e', data: 'sent' })
  streams[0].close()
  await c.until(() => c.ended, 'the end of the response')
  t.same(c.events.map((e) => e.data), ['"published"', '"sent"'])
  t.equal(c.response?.headers['transfer-encoding'], 'chunked')
  t.ok(c.body.length > 0 && !c.socket.destroyed, 'ended cleanly, not reset')
})

test('a stream whose connection is destroyed right after a publish is skipped by the fan-out', async (t) => {
  const raws: import('node:http').ServerResponse[] = []
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => { reply.sse({ topics: ['solo'] }); raws.push(reply.raw) })
  })
  const c = await primed(t, port)
  const published = app.sse.publish({ event: 'e', data: 1, topic: 'solo' })
  raws[0].destroy()
  await published
  await c.closed()
  t.equal(c.events.length, 0)
  t.equal(app.sse.count('solo'), 0)
})
