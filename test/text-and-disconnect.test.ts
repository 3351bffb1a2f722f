// Verbatim text events ({ event, text }), disconnect(topic), and history as a function of the topic.
import { test } from 'tap'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { stores } from './helpers/stores'
import { testPrefix } from './helpers/redis'
import type { SseStream } from '../lib/index'

const Chunk = Type.Object({ choices: Type.Array(Type.Object({ delta: Type.Object({ content: Type.String() }) })) })
const events = {
  message: Type.Union([Chunk, Type.Literal('[DONE]')]),
  token: Type.String({ maxLength: 30 }),
  count: Type.Object({ n: Type.Integer() })
}

test('text is written verbatim, one data: line per line, checked as a string value of the schema', async (t) => {
  const sent: string[] = []
  const { app, port } = await listen(t, { events }, (app) => {
    app.get('/events', (_request, reply) => {
      const stream = reply.sse()
      stream.send({ event: 'token', text: 'line one\r\nline two\rthree' })
      for (const bad of [{ event: 'count', text: '{"n":1}' }, { event: 'token', text: 'x'.repeat(31) }, { event: 'token', text: 1 }, { event: 'token', text: 'a', data: 'a' }, { event: 'nope', text: 'a' }, { event: 'sse-reset', text: 'a' }]) {
        try { stream.send(bad as never) } catch (err) { sent.push((err as { code: string }).code) }
      }
      return stream
    })
  })
  const client = new RawSseClient(port, '/events')
  t.teardown(() => client.close())
  await client.eventCount(1)
  t.same(sent, ['FST_SSE_INVALID_DATA', 'FST_SSE_INVALID_DATA', 'FST_SSE_INVALID_FIELD', 'FST_SSE_INVALID_FIELD', 'FST_SSE_UNKNOWN_EVENT', 'FST_SSE_INVALID_FIELD'])
  t.match(client.body, 'event: token\ndata: line one\ndata: line two\ndata: three\n\n')
  const chunk = { choices: [{ delta: { content: 'Hi' } }] }
  await app.sse.publish({ event: 'message', data: chunk })
  const done = await app.sse.publish({ event: 'message', text: '[DONE]' })
  await client.eventCount(3)
  t.match(client.body, `id: ${done.id}\ndata: [DONE]\n\n`, 'an OpenAI-style final line')
  await t.rejects(app.sse.publish({ event: 'message', text: 'DONE' }), { code: 'FST_SSE_INVALID_DATA', message: /text "DONE" is not a string value of its schema/ })
  await t.rejects(app.sse.publish({ event: 'message', text: 'a'.repeat(100) }), { message: new RegExp(`text "${'a'.repeat(40)}…" is not`) }, 'a long text is shown cut')
  await t.rejects(app.sse.publish({ event: 'message', text: '[DONE]', data: chunk } as never), { code: 'FST_SSE_INVALID_FIELD', message: /not both/ })
  t.equal(app.sse.stats().published, 2)

  const replayed = new RawSseClient(port, '/events', { 'last-event-id': client.parser.lastEventId.replace(/-\d+$/, '-0') })
  t.teardown(() => replayed.close())
  await replayed.eventCount(2)
  t.same(replayed.events.slice(0, 2).map((e) => e.data), [JSON.stringify(chunk), '[DONE]'], 'text events replay like any other')
})

for (const store of stores) {
  test(`${store.name}: disconnect(topic) ends its streams after the events published before it, and counts them`, { skip: store.skip }, async (t) => {
    const streams: SseStream[] = []
    const route = (app: FastifyInstance): void => {
      app.get('/events/:user', (request, reply) => {
        streams.push(reply.sse({ topics: ['broadcast', `user:${(request.params as { user: string }).user}`] }))
      })
    }
    const keyPrefix = store.name === 'redis' ? testPrefix(t) : undefined
    const a = await listen(t, store.options(t, keyPrefix), route)
    const others = store.name === 'redis' ? await listen(t, store.options(t, keyPrefix), route) : a
    const alice = [new RawSseClient(a.port, '/events/alice'), new RawSseClient(others.port, '/events/alice')]
    const bob = new RawSseClient(a.port, '/events/bob')
    t.teardown(() => { for (const c of [...alice, bob]) c.close() })
    for (const c of [...alice, bob]) await c.until(() => c.parser.lastEventId !== '', 'the priming frame')
    await a.app.sse.publish({ event: 'e', data: 'last words', topic: 'user:alice' })
    const ended = await a.app.sse.disconnect('user:alice')
    t.equal(ended, store.name === 'redis' ? 1 : 2, 'the streams it ended on this instance')
    for (const c of alice) {
      await c.responseEnd()
      t.same(c.events.map((e) => e.data), ['"last words"'], 'the event published before the call arrived first')
    }
    await a.app.sse.publish({ event: 'e', data: 'still here' })
    await bob.eventCount(1)
    t.equal(await a.app.sse.disconnect('user:nobody'), 0)
    await a.app.sse.publish({ event: 'e', data: 'topic stays open', topic: 'user:alice' })
    const ofAlice = streams.filter((s) => s.topics.includes('user:alice'))
    t.same(await Promise.all(ofAlice.map((s) => s.closed)), ['server', 'server'])
    t.equal(streams.find((s) => s.topics.includes('user:bob'))?.signal.aborted, false)
    await t.rejects(a.app.sse.disconnect('' as string), { code: 'FST_SSE_INVALID_FIELD' })
  })

  test(`${store.name}: history as a function of the topic; a wrong answer rejects the publish`, { skip: store.skip }, async (t) => {
    const { app, port } = await listen(t, { ...store.options(t), history: (topic: string) => topic.startsWith('answer:') ? 5 : topic === 'bad' ? 1.5 : 1 }, (app) => {
      app.get('/events', (request, reply) => reply.sse({ topics: [(request.query as { topic: string }).topic], backfill: 'all' }))
    })
    for (let i = 0; i < 6; i++) {
      await app.sse.publish({ event: 'e', data: i, topic: 'answer:1' })
      await app.sse.publish({ event: 'e', data: i, topic: 'chat' })
    }
    for (const [topic, expected] of [['answer:1', ['1', '2', '3', '4', '5']], ['chat', ['5']]] as const) {
      const client = new RawSseClient(port, `/events?topic=${topic}`)
      t.teardown(() => client.close())
      await client.eventCount(expected.length)
      t.same(client.events.map((e) => e.data), expected, topic)
    }
    await t.rejects(app.sse.publish({ event: 'e', data: 1, topic: 'bad' }), { code: 'FST_SSE_INVALID_OPTION', message: /"history" answered 1.5 for topic "bad"/ })
  })
}
