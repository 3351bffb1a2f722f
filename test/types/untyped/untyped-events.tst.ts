import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import fastifySse from '../../../lib/index'

const app = Fastify()
app.register(fastifySse)

test('without an augmented event map, any name and any data compile', () => {
  expect(app.sse.publish({ event: 'anything', data: { free: ['form'] } })).type.toBe<Promise<{ id: string }>>()
  expect(app.sse.publish({ event: 'x', data: 1, topic: 'room:1' })).type.toBe<Promise<{ id: string }>>()
  expect(app.sse.publish).type.not.toBeCallableWith({ data: 1 })
})

test('without an augmented event map, text is any string', () => {
  expect(app.sse.publish({ event: 'anything', text: 'verbatim' })).type.toBe<Promise<{ id: string }>>()
  expect(app.sse.publish).type.not.toBeCallableWith({ event: 'anything', text: 1 })
})
