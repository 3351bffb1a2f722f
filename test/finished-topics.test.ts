// Finished topics: publish({ last: true }) ends a topic; its streams end after the final event,
// and a client owed nothing more is answered 204, so EventSource stops for good. Both stores.
import { test } from 'tap'
import { EventSource } from 'undici'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { stores } from './helpers/stores'
import { testPrefix } from './helpers/redis'
import type { SseCloseReason, SseStream } from '../lib/index'

for (const store of stores) {
  const routes = (streams: SseStream[]) => (app: import('fastify').FastifyInstance): void => {
    app.get('/events', (request, reply) => {
      const { topics, backfill } = request.query as { topics: string, backfill?: string }
      streams.push(reply.sse({ topics: topics.split(','), backfill: backfill === 'all' ? 'all' : Number(backfill ?? 0) }))
    })
  }

  test(`${store.name}: a stream ends right after the final event of its last unfinished topic`, { skip: store.skip }, async (t) => {
    const streams: SseStream[] = []
    const { app, port } = await listen(t, store.options(t), routes(streams))
    const answer = new RawSseClient(port, '/events?topics=answer:1')
    const both = new RawSseClient(port, '/events?topics=answer:1,news')
    t.teardown(() => { answer.close(); both.close() })
    for (const c of [answer, both]) await c.until(() => c.parser.lastEventId !== '', 'the priming frame')
    await app.sse.publish({ event: 'token', text: 'Hel', topic: 'answer:1' })
    const final = await app.sse.publish({ event: 'token', text: 'lo', topic: 'answer:1', last: true })
    await answer.responseEnd()
    t.same(answer.events.map((e) => e.data), ['Hel', 'lo'])
    t.equal(answer.parser.lastEventId, final.id)
    t.equal(await streams[0].closed, 'server')
    await both.eventCount(2)
    t.equal(both.ended, false, 'a stream with an unfinished topic goes on')
    await app.sse.publish({ event: 'n', data: 1, topic: 'news' })
    await both.eventCount(3)
    await t.rejects(app.sse.publish({ event: 'token', text: 'more', topic: 'answer:1' }), { code: 'FST_SSE_TOPIC_FINISHED', message: /topic "answer:1" is finished/ })
    await t.rejects(app.sse.publish({ event: 'token', text: 'more', topic: 'answer:1', last: true }), { code: 'FST_SSE_TOPIC_FINISHED' })
    t.equal(app.sse.stats().published, 3, 'refused publishes are not counted')
    await app.sse.publish({ event: 'n', data: 'end', topic: 'news', last: true })
    await both.responseEnd()
    t.same(both.events.map((e) => e.data), ['Hel', 'lo', '1', '"end"'])
  })

  test(`${store.name}: on finished topics a client owed nothing gets 204; one owed events gets them, then the end`, { skip: store.skip }, async (t) => {
    const streams: SseStream[] = []
    const { app, port, url } = await listen(t, store.options(t), routes(streams))
    const first = await app.sse.publish({ event: 'token', text: 'a', topic: 'answer:2' })
    await app.sse.publish({ event: 'token', text: 'b', topic: 'answer:2' })
    const final = await app.sse.publish({ event: 'token', text: 'c', topic: 'answer:2', last: true })

    for (const [what, query, headers] of [
      ['no backfill', '', {}],
      ['has the final event', '', { 'last-event-id': final.id }],
      ['has the final event (query)', `&lastEventId=${encodeURIComponent(final.id)}`, {}]
    ] as const) {
      for (const method of ['GET', 'HEAD']) {
        const response = await fetch(`${url}/events?topics=answer:2${query}`, { method, headers })
        t.equal(response.status, 204, `${what}, ${method}: 204`)
        t.equal(await response.text(), '')
        t.equal(response.headers.get('content-type'), null, 'no event-stream content type on a 204')
      }
    }
    t.same(await Promise.all(streams.map((s) => s.closed)), Array(streams.length).fill('server'), 'reply.sse() returned streams that ended')

    const resumed = new RawSseClient(port, '/events?topics=answer:2', { 'last-event-id': first.id })
    await resumed.responseEnd()
    t.equal(resumed.response?.status, 200)
    t.same(resumed.events.map((e) => e.data), ['b', 'c'], 'the rest of the answer, then the end')
    const reloaded = new RawSseClient(port, '/events?topics=answer:2&backfill=all')
    await reloaded.responseEnd()
    t.same(reloaded.events.map((e) => e.data), ['a', 'b', 'c'], 'a reload gets the whole answer, then the end')
    const head = await fetch(`${url}/events?topics=answer:2&backfill=all`, { method: 'HEAD' })
    t.equal(head.status, 200, 'HEAD: what GET would answer')
    const unknown = new RawSseClient(port, '/events?topics=answer:2', { 'last-event-id': 'garbage' })
    await unknown.responseEnd()
    t.equal(unknown.events[0].type, 'sse-reset', 'an id from elsewhere is reset, then sent the retained answer')
    t.same(unknown.events.slice(1).map((e) => e.data), ['a', 'b', 'c'])
    t.same(app.sse.stats().connections, 0)
  })

  test(`${store.name}: EventSource stops for good at a finished answer`, { skip: store.skip }, async (t) => {
    let requests = 0
    const { app, url } = await listen(t, { ...store.options(t), retry: 50 }, (app) => {
      app.get('/answer', (_request, reply) => {
        requests++
        return reply.sse({ topics: ['answer:3'] })
      })
    })
    const source = new EventSource(`${url}/answer`)
    t.teardown(() => source.close())
    const texts: string[] = []
    source.addEventListener('token', (event) => texts.push((event as MessageEvent).data))
    await new Promise((resolve) => source.addEventListener('open', resolve, { once: true }))
    await app.sse.publish({ event: 'token', text: 'one', topic: 'answer:3' })
    await app.sse.publish({ event: 'token', text: 'two', topic: 'answer:3', last: true })
    await new Promise((resolve) => source.addEventListener('error', resolve, { once: true }))
    // It reconnects once (the stream ended), carries the final id, and gets 204: closed for good.
    await new Promise<void>((resolve) => {
      const poll = (): void => { source.readyState === EventSource.CLOSED ? resolve() : setTimeout(poll, 10) }
      poll()
    })
    t.same(texts, ['one', 'two'])
    t.equal(requests, 2, 'one reconnect, answered 204')
  })
}

test('last: true only in publish; a boolean; the mark outlives history: 0', async (t) => {
  const refused: unknown[] = []
  const { app, url } = await listen(t, { history: 0 }, (app) => {
    app.get('/events', (_request, reply) => {
      const stream = reply.sse({ topics: ['answer:x'] })
      try { stream.send({ event: 'e', data: 1 }) } catch (err) { refused.push((err as { code: string }).code) }
      stream.closed.then((reason) => refused.push(reason), () => {})
    })
  })
  await t.rejects(app.sse.publish({ event: 'e', data: 1, last: 'yes' } as never), { code: 'FST_SSE_INVALID_FIELD', message: /`last` must be true/ })
  await app.sse.publish({ event: 'e', data: 1, topic: 'answer:x', last: true })
  await t.rejects(app.sse.publish({ event: 'e', data: 2, topic: 'answer:x' }), { code: 'FST_SSE_TOPIC_FINISHED' })
  t.equal((await fetch(`${url}/events`)).status, 204, 'history 0: nothing retained, still finished')
  t.same(refused, ['server'], 'the handler\'s send is dropped with the 204, as with any store; the stream ends')
})

test('send() and sendAll() refuse last', async (t) => {
  const errors: Array<{ code: string, message: string }> = []
  const { url } = await listen(t, {}, (app) => {
    app.get('/events', async (_request, reply) => {
      const stream = reply.sse({ topics: [] })
      try { stream.send({ event: 'e', data: 1, last: true } as never) } catch (err) { errors.push(err as never) }
      await stream.sendAll([{ event: 'e', data: 1, last: true } as never]).catch((err) => errors.push(err))
      const reason: SseCloseReason = await stream.closed
      errors.push({ code: reason, message: '' })
    })
  })
  const response = await fetch(`${url}/events`)
  await response.text()
  t.match(errors, [{ code: 'FST_SSE_INVALID_FIELD', message: /send\(\) takes no `last`/ }, { code: 'FST_SSE_INVALID_FIELD', message: /sendAll\(\) takes no `last`/ }, { code: 'server' }])
})

test('redis: a topic finished on one instance is finished on the other, and its reconnect gets 204 there', { skip: stores[1].skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const streams: SseStream[] = []
  const route = (app: import('fastify').FastifyInstance): void => {
    app.get('/events', (_request, reply) => { streams.push(reply.sse({ topics: ['answer:r'] })) })
  }
  const a = await listen(t, stores[1].options(t, keyPrefix), route)
  const b = await listen(t, stores[1].options(t, keyPrefix), route)
  const onB = new RawSseClient(b.port, '/events')
  t.teardown(() => onB.close())
  await onB.until(() => onB.parser.lastEventId !== '', 'the priming frame')
  await a.app.sse.publish({ event: 't', text: 'x', topic: 'answer:r' })
  const final = await a.app.sse.publish({ event: 't', text: 'y', topic: 'answer:r', last: true })
  await onB.responseEnd()
  t.same(onB.events.map((e) => e.data), ['x', 'y'])
  await t.rejects(b.app.sse.publish({ event: 't', text: 'z', topic: 'answer:r' }), { code: 'FST_SSE_TOPIC_FINISHED' })
  for (const instance of [a, b]) {
    t.equal((await fetch(`${instance.url}/events`, { headers: { 'last-event-id': final.id } })).status, 204)
  }
})

test('redis: a final event Redis holds but this instance has not delivered yet ends only its own topic, when it arrives', { skip: stores[1].skip }, async (t) => {
  const { Redis } = await import('ioredis')
  const { REDIS_URL, eventually } = await import('./helpers/redis')
  const { redisStore } = await import('../lib/redis')
  const client = new Redis(REDIS_URL)
  t.teardown(() => client.disconnect())
  // The reader's deliveries wait at a gate while it is closed: a lag that exists between instances anyway.
  let gate: Promise<void> = Promise.resolve()
  let openGate = (): void => {}
  const duplicate = client.duplicate.bind(client)
  client.duplicate = (options) => {
    const reader = duplicate(options)
    const xread = reader.xread.bind(reader) as (...args: unknown[]) => Promise<unknown>
    ;(reader as unknown as { xread: unknown }).xread = async (...args: unknown[]) => {
      const reply = await xread(...args)
      if (reply !== null) await gate
      return reply
    }
    return reader
  }
  const streams: SseStream[] = []
  const keyPrefix = testPrefix(t)
  const { app, port } = await listen(t, { store: redisStore({ client, keyPrefix }) }, (app) => {
    app.get('/both', (_request, reply) => { streams.push(reply.sse({ topics: ['a', 'b'] })) })
  })
  gate = new Promise((resolve) => { openGate = resolve })
  const finishing = app.sse.publish({ event: 'done', data: 'a', topic: 'a', last: true })
  const admin = new Redis(REDIS_URL)
  t.teardown(() => admin.disconnect())
  await eventually(async () => { if (await admin.exists(`{${keyPrefix}}:history:a`) === 0) throw new Error('not yet') }, 'the final event in Redis')
  const both = new RawSseClient(port, '/both')
  t.teardown(() => both.close())
  await both.until(() => both.parser.lastEventId !== '', 'the priming frame')
  openGate()
  await finishing
  await both.eventCount(1)
  await app.sse.publish({ event: 'msg', data: 'b1', topic: 'b' })
  await both.eventCount(2)
  t.same(both.events.map((e) => e.data), ['"a"', '"b1"'], 'topic b goes on after a finished')
  t.equal(streams[0].signal.aborted, false)
})
