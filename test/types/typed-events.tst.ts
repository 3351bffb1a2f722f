import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import fastifySse, { type SseStream, type SseCloseReason } from '../../lib/index'

const events = {
  notification: Type.Object({ title: Type.String(), message: Type.String() }),
  'user-count': Type.Object({ count: Type.Integer({ minimum: 0 }) }),
  token: Type.String(),
  message: Type.Union([Type.Object({ content: Type.String() }), Type.Literal('[DONE]')])
}
type AppEvents = typeof events

declare module '../../lib/index' {
  interface SseEvents extends AppEvents {}
}

const app = Fastify()
app.register(fastifySse, { events })

test('publish: declared names with data of their schema compile', () => {
  expect(app.sse.publish({ event: 'notification', data: { title: 'Hi', message: 'there' } })).type.toBe<Promise<{ id: string }>>()
  expect(app.sse.publish({ event: 'user-count', data: { count: 1 }, topic: 'user:1' })).type.toBe<Promise<{ id: string }>>()
})

test('publish: a wrong event name or data shape is a compile error', () => {
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'notificaton', data: { title: 'Hi', message: 'x' } })
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'user-count', data: { count: '1' } })
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'notification', data: { title: 'Hi' } })
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'user-count', data: { title: 'Hi', message: 'x' } })
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'user-count', data: { count: 1 }, topic: 1 })
})

test('a wrong payload\'s error names the data type of its own event, not every event\'s', () => {
  expect(app.sse.publish({ event: 'notification', data: { title: 'Hi' } }))
    .type.toRaiseError("Property 'message' is missing in type '{ title: string; }' but required in type '{ title: string; message: string; }'")
  expect(app.sse.publish({ event: 'user-count', data: { count: 1, extra: true } }))
    .type.toRaiseError("'extra' does not exist in type '{ count: number; }'")
})

test('a union of event names still pairs each name with its own data', () => {
  const name = 'user-count' as 'notification' | 'user-count'
  expect(app.sse.publish).type.not.toBeCallableWith({ event: name, data: { count: 1 } })
  const message = { event: 'user-count', data: { count: 1 } } as { event: 'user-count', data: { count: number } } | { event: 'notification', data: { title: string, message: string } }
  expect(app.sse.publish(message)).type.toBe<Promise<{ id: string }>>()
})

test('reply.sse() returns a typed stream whose send checks names and data', () => {
  app.get('/events', (_request, reply) => {
    const stream = reply.sse({ topics: ['broadcast'] })
    expect(reply.sse).type.toBeCallableWith({ topics: ['broadcast', 'user:1'] as const })
    expect(reply.sse).type.not.toBeCallableWith({ topic: 'user:1' })
    expect(stream).type.toBe<SseStream>()
    expect(stream.send).type.toBeCallableWith({ event: 'user-count', data: { count: 2 } })
    expect(stream.send).type.not.toBeCallableWith({ event: 'user-count', data: { count: 'two' } })
    expect(stream.send).type.not.toBeCallableWith({ event: 'unknown', data: {} })
    expect(stream.send({ event: 'user-count', data: {} })).type.toRaiseError("Property 'count' is missing in type '{}' but required in type '{ count: number; }'")
    expect(stream.closed).type.toBe<Promise<SseCloseReason>>()
    expect(stream.signal).type.toBe<AbortSignal>()
    expect(stream.lastEventId).type.toBe<string | undefined>()
    return stream
  })
  expect(app.sse.stats()).type.toBe<{ connections: number, published: number, dropped: number, topics?: number, retainedBytes?: number }>()
})

test('registration options are typed', () => {
  expect(app.register).type.not.toBeCallableWith(fastifySse, { hearbeat: 1000 })
  expect(app.register).type.not.toBeCallableWith(fastifySse, { history: '10' })
  expect(app.register).type.toBeCallableWith(fastifySse, { history: 0, retry: 0, heartbeat: 0, maxBufferedBytes: 1024 })
  expect(app.register).type.toBeCallableWith(fastifySse, { shutdownSpread: 0 })
  expect(app.register).type.not.toBeCallableWith(fastifySse, { shutdownSpread: '5s' })
})

test('text: only for events whose data may be a string, and only such strings', () => {
  expect(app.sse.publish({ event: 'token', text: 'Hel' })).type.toBe<Promise<{ id: string }>>()
  expect(app.sse.publish({ event: 'message', text: '[DONE]' })).type.toBe<Promise<{ id: string }>>()
  expect(app.sse.publish({ event: 'message', data: { content: 'x' } })).type.toBe<Promise<{ id: string }>>()
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'message', text: 'DONE' })
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'user-count', text: '3' })
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'token', text: 'a', data: 'a' })
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'token', text: 1 })
})

test('last: in publish only; disconnect', () => {
  expect(app.sse.publish({ event: 'token', text: '!', topic: 'answer:1', last: true })).type.toBe<Promise<{ id: string }>>()
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'token', text: '!', last: 'yes' })
  expect(app.sse.disconnect('user:1')).type.toBe<Promise<number>>()
  app.get('/x', (_request, reply) => {
    const stream = reply.sse({ topics: [] })
    expect(stream.send).type.not.toBeCallableWith({ event: 'token', text: 'a', last: true })
  })
})

test('reply.sse({ topics, backfill }) and sendAll(source) with typed messages', () => {
  app.get('/answer', async (_request, reply) => {
    expect(reply.sse).type.toBeCallableWith({ topics: ['answer:1'], backfill: 'all' })
    expect(reply.sse).type.toBeCallableWith({ topics: [], backfill: 10 })
    expect(reply.sse).type.not.toBeCallableWith({ backfill: 'some' })
    const stream = reply.sse({ topics: [] })
    async function * tokens (): AsyncGenerator<{ event: 'token', text: string }> { yield { event: 'token', text: 'a' } }
    expect(stream.sendAll(tokens())).type.toBe<Promise<void>>()
    expect(stream.sendAll([{ event: 'message', text: '[DONE]' }] as const, { highWaterMark: 1024, close: false })).type.toBe<Promise<void>>()
    expect(stream.sendAll).type.not.toBeCallableWith([{ event: 'user-count', data: { count: 'x' } }])
    expect(stream.sendAll).type.not.toBeCallableWith([{ event: 'token', text: 'a' }], { highWaterMark: '1' })
    await stream.sendAll(tokens())
  })
})

test('history: a number or a function of the topic', () => {
  expect(app.register).type.toBeCallableWith(fastifySse, { history: (topic: string) => topic.startsWith('answer:') ? 20_000 : 1000 })
  expect(app.register).type.not.toBeCallableWith(fastifySse, { history: (topic: string) => topic })
})
