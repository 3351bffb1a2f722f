// Compile-time tests of fastify-sse-hub/client: listeners are typed by the server's event map.
/// <reference lib="dom" />
import { describe, expect, test } from 'tstyche'
import { Type } from '@sinclair/typebox'
import { EventSource, fetch } from 'undici'
import {
  SseClient,
  type SseClientEventMap,
  type SseClientTextEventMap,
  type SseMessageEventLike,
  type SseReset,
  type SseStateChange
} from 'fastify-sse-hub/client'

export const events = {
  notification: Type.Object({ title: Type.String(), message: Type.String() }),
  'user-count': Type.Object({ count: Type.Integer({ minimum: 0 }) }),
  message: Type.Object({ text: Type.String() })
}
type AppEvents = typeof events

// An OpenAI-style answer (JSON chunks, then the text `[DONE]`), tokens sent as text, and more.
export const answerEvents = {
  message: Type.Union([Type.Object({ delta: Type.String() }), Type.Literal('[DONE]')]),
  token: Type.String(),
  count: Type.Union([Type.Integer(), Type.String()]),
  'user-count': Type.Object({ count: Type.Integer() })
}

describe('typed by the server\'s TypeBox schemas', () => {
  const client = new SseClient<AppEvents>('/events')

  test('listeners get the Static type of their event', () => {
    client.on('notification', (data, event) => {
      expect(data).type.toBe<{ title: string, message: string }>()
      expect(event).type.toBe<SseMessageEventLike>()
    })
    client.on('user-count', (data) => {
      expect(data).type.toBe<{ count: number }>()
    })
    client.on('message', ({ text }) => {
      expect(text).type.toBe<string>()
    })
  })

  test('an undeclared event name is an error', () => {
    expect(client.on).type.not.toBeCallableWith('notifcation', () => {})
    expect(client.on).type.not.toBeCallableWith('sse-reset', () => {})
  })

  test('a listener expecting the wrong data is an error', () => {
    expect(client.on).type.not.toBeCallableWith('user-count', (data: { count: string }) => data)
    expect(client.on).type.toBeCallableWith('user-count', (data: { count: number }) => data)
  })

  test('on() returns the function that removes the listener', () => {
    expect(client.on('message', () => {})).type.toBe<() => void>()
  })
})

describe('typed by a map of data types', () => {
  test('the data types are used as they are', () => {
    const client = new SseClient<{ tick: { at: number }, label: string }>('/ticks')
    client.on('tick', (data) => { expect(data).type.toBe<{ at: number }>() })
    client.on('label', (data) => { expect(data).type.toBe<string>() })
    expect(client.on).type.not.toBeCallableWith('tock', () => {})
  })

  test('SseClientEventMap maps schemas and leaves other types alone', () => {
    expect<SseClientEventMap<AppEvents>>().type.toBe<{
      notification: { title: string, message: string }
      'user-count': { count: number }
      message: { text: string }
    }>()
    expect<SseClientEventMap<{ n: number }>>().type.toBe<{ n: number }>()
  })
})

describe('without an event map', () => {
  test('any name, unknown data', () => {
    const client = new SseClient('/events')
    client.on('anything', (data) => { expect(data).type.toBe<unknown>() })
    expect<SseClientEventMap<Record<never, never>>>().type.toBe<Record<string, unknown>>()
  })
})

describe('text events', () => {
  const client = new SseClient<typeof answerEvents>('/answer')

  test('a text listener gets the string part of its event\'s data type', () => {
    client.onText('message', (text, event) => {
      expect(text).type.toBe<'[DONE]'>()
      expect(event).type.toBe<SseMessageEventLike>()
    })
    client.onText('token', (text) => { expect(text).type.toBe<string>() })
    client.onText('count', (text) => { expect(text).type.toBe<string>() })
    expect(client.onText('token', () => {})).type.toBe<() => void>()
  })

  test('JSON listeners of a name that also carries text get the whole union', () => {
    client.on('message', (data) => { expect(data).type.toBe<{ delta: string } | '[DONE]'>() })
  })

  test('a name whose data is never a string, or is not in the map, takes no text listener', () => {
    expect(client.onText).type.not.toBeCallableWith('user-count', () => {})
    expect(client.onText).type.not.toBeCallableWith('tokens', () => {})
    expect(client.onText).type.not.toBeCallableWith('message', (text: number) => text)
  })

  test('SseClientTextEventMap keeps the names whose data can be a string', () => {
    expect<SseClientTextEventMap<typeof answerEvents>>().type.toBe<{ message: '[DONE]', token: string, count: string }>()
    expect<SseClientTextEventMap<{ n: number, s: string, u: unknown }>>().type.toBe<{ s: string, u: string }>()
  })

  test('without an event map, any name and a string', () => {
    new SseClient('/events').onText('message', (text) => { expect(text).type.toBe<string>() })
    expect<SseClientTextEventMap<Record<never, never>>>().type.toBe<Record<string, string>>()
  })
})

describe('the rest of the API', () => {
  const client = new SseClient<AppEvents>(new URL('http://127.0.0.1/events'), {
    EventSource,
    eventSourceInit: { withCredentials: true },
    lastEventId: 'abc-1',
    backoff: { initialDelay: 500, maxDelay: 10_000, factor: 2, jitter: 0.3, maxRetries: 8 }
  })

  test('sse-reset has its own typed callback', () => {
    client.onReset((reset, event) => {
      expect(reset).type.toBe<SseReset>()
      expect(reset.reason).type.toBe<'unknown' | 'expired'>()
      expect(event.lastEventId).type.toBe<string>()
    })
  })

  test('state and errors', () => {
    client.onState((change) => {
      expect(change).type.toBe<SseStateChange>()
      expect(change.reason).type.toBe<'finished' | 'maxRetries' | 'close' | undefined>()
    })
    client.onError((error) => { expect(error).type.toBe<Error>() })
    expect(client.state).type.toBe<'connecting' | 'open' | 'reconnecting' | 'closed'>()
    expect(client.lastEventId).type.toBe<string | undefined>()
  })

  test('the browser\'s EventSource and undici\'s both fit, and so do their fetch', () => {
    expect(SseClient).type.toBeConstructableWith('/events', { EventSource: globalThis.EventSource })
    expect(SseClient).type.toBeConstructableWith('/events', { EventSource, eventSourceInit: { dispatcher: undefined } })
    expect(SseClient).type.toBeConstructableWith('/events', { fetch: globalThis.fetch })
    expect(SseClient).type.toBeConstructableWith('/events', { EventSource, fetch })
  })

  test('options are checked', () => {
    expect(SseClient).type.not.toBeConstructableWith('/events', { backoff: { initialDelay: '1s' } })
    expect(SseClient).type.not.toBeConstructableWith('/events', { lastEventId: 1 })
    expect(SseClient).type.not.toBeConstructableWith('/events', { EventSource: class {} })
    expect(SseClient).type.not.toBeConstructableWith('/events', { fetch: true })
    expect(SseClient).type.not.toBeConstructableWith('/events', { fetch: async () => 'done' })
  })
})
