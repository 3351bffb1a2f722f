// An ES module app compiled with `module: nodenext`, as TypeScript users of ESM build it: the
// package resolves through its `exports` map (built types in dist/), and TypeBox through its
// ESM types, which must fit the plugin's `events` option and drive the event map.
import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import fastifySseDefault, { fastifySse, type SseStream } from 'fastify-sse-hub'

const events = {
  notification: Type.Object({ title: Type.String(), message: Type.String() }),
  'user-count': Type.Object({ count: Type.Integer({ minimum: 0 }) })
}
type AppEvents = typeof events

declare module 'fastify-sse-hub' {
  interface SseEvents extends AppEvents {}
}

const app = Fastify()

test('the default and the named export register with ESM TypeBox schemas', () => {
  expect(app.register).type.toBeCallableWith(fastifySse, { events, history: 100 })
  expect(app.register).type.toBeCallableWith(fastifySseDefault, { events, history: 100 })
  expect(fastifySseDefault).type.toBe(fastifySse)
})

test('publish and send are typed from the ESM schemas', () => {
  expect(app.sse.publish({ event: 'user-count', data: { count: 1 } })).type.toBe<Promise<{ id: string }>>()
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'user-count', data: { count: '1' } })
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'nope', data: {} })
  app.get('/events', (_request, reply) => {
    const stream = reply.sse()
    expect(stream).type.toBe<SseStream>()
    expect(stream.send).type.toBeCallableWith({ event: 'notification', data: { title: 'a', message: 'b' } })
    return stream
  })
})
