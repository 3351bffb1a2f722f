// stream.sendAll(source): every message checked like send(), backpressure that pauses the
// source, the source stopped when the stream ends first, errors that close the stream.
import { test } from 'tap'
import { Readable } from 'node:stream'
import { Type } from '@sinclair/typebox'
import { listen, HandlerGate } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import type { SseStream } from '../lib/index'

async function * tokens (count: number, log: string[] = []): AsyncGenerator<{ event: string, text: string }> {
  try {
    for (let i = 0; i < count; i++) {
      log.push(`pull ${i}`)
      yield { event: 'token', text: `t${i}` }
    }
  } finally {
    log.push('finally')
  }
}

test('a private stream: sendAll() writes every message in order, then closes; no priming, no publish reaches it', async (t) => {
  let done: Promise<void> | undefined
  let stream: SseStream | undefined
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/answer', (_request, reply) => {
      stream = reply.sse({ topics: [] })
      done = stream.sendAll(tokens(50))
      return stream
    })
  })
  await app.sse.publish({ event: 'e', data: 'before' })
  const client = new RawSseClient(port, '/answer', { 'last-event-id': 'anything' })
  t.teardown(() => client.close())
  await client.responseEnd()
  t.equal(await done, undefined)
  t.equal(await stream!.closed, 'server')
  t.equal(stream!.lastEventId, 'anything', 'the client\'s id is reported, and nothing replayed')
  t.same(client.events.map((e) => e.data), Array.from({ length: 50 }, (_, i) => `t${i}`))
  t.notOk(client.items.some((i) => i.kind === 'id-only'), 'no priming frame')
  t.notMatch(client.body, /^id:/m, 'no ids at all')
  t.has(app.sse.stats(), { connections: 0, published: 1, dropped: 0 })
})

test('sync iterables, Readable sources, close: false, and unnamed messages', async (t) => {
  const results: unknown[] = []
  const { port } = await listen(t, {}, (app) => {
    app.get('/mixed', async (_request, reply) => {
      const stream = reply.sse({ topics: [] })
      results.push(await stream.sendAll([{ event: 'message', data: { n: 1 } }, { event: 'named', text: 'two\nlines' }], { close: false }))
      results.push(await stream.sendAll(Readable.from([{ event: 'message', text: '[DONE]' }])))
    })
  })
  const client = new RawSseClient(port, '/mixed')
  t.teardown(() => client.close())
  await client.responseEnd()
  t.same(results, [undefined, undefined])
  t.equal(client.body, 'data: {"n":1}\n\nevent: named\ndata: two\ndata: lines\n\ndata: [DONE]\n\n', 'message without event:, text verbatim and split per line')
})

test('a ready source is written once per turn, not once per message; what it gave goes before a send() made meanwhile', async (t) => {
  const { port } = await listen(t, {}, (app) => {
    app.get('/ready', (_request, reply) => {
      const stream = reply.sse({ topics: [] })
      stream.sendAll(Array.from({ length: 200 }, (_, i) => ({ event: 'token', text: `t${i}` }))).catch(() => {})
      return stream
    })
    app.get('/interleaved', (_request, reply) => {
      const stream = reply.sse({ topics: [] })
      async function * source (): AsyncGenerator<{ event: string, text: string }> {
        yield { event: 'token', text: 'a' }
        yield { event: 'token', text: 'b' }
        // Pulled in the same turn as a and b, which are not written yet.
        stream.send({ event: 'note', text: 'x' })
        yield { event: 'token', text: 'c' }
      }
      stream.sendAll(source()).catch(() => {})
      return stream
    })
  })
  const ready = new RawSseClient(port, '/ready')
  t.teardown(() => ready.close())
  await ready.responseEnd()
  t.equal(ready.events.length, 200)
  t.equal(ready.chunkCount, 1, '200 messages, one write')
  const interleaved = new RawSseClient(port, '/interleaved')
  t.teardown(() => interleaved.close())
  await interleaved.responseEnd()
  t.same(interleaved.events.map((e) => e.data), ['a', 'b', 'x', 'c'])
})

test('sendAll and publish on one stream keep the order they happened in, both ways', async (t) => {
  const { app, port } = await listen(t, { heartbeat: 0 }, (app) => {
    app.get('/mixed', (_request, reply) => {
      const stream = reply.sse({ topics: ['x'] })
      async function * source (): AsyncGenerator<{ event: string, text: string }> {
        await app.sse.publish({ topic: 'x', event: 'p1', data: 'published before a' })
        yield { event: 'a', text: 'pulled after p1' }
        await new Promise((resolve) => setTimeout(resolve, 10))
        yield { event: 'b', text: 'pulled before p2' }
        app.sse.publish({ topic: 'x', event: 'p2', data: 'published after b' }).catch(() => {})
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      setTimeout(() => { stream.sendAll(source()).catch(() => {}) }, 10)
      return stream
    })
  })
  const client = new RawSseClient(port, '/mixed')
  t.teardown(() => client.close())
  await client.responseEnd()
  t.same(client.events.map((e) => e.type), ['p1', 'a', 'b', 'p2'])
  t.equal(app.sse.stats().connections, 0)
})

test('backpressure: a client that stops reading pauses the source; reading again resumes it; leaving stops it', async (t) => {
  const log: string[] = []
  let stream: SseStream | undefined
  let done: Promise<void> | undefined
  const big = 'x'.repeat(8 * 1024)
  async function * source (): AsyncGenerator<{ event: string, text: string }> {
    try {
      for (let i = 0; ; i++) {
        log.push(`pull ${i}`)
        yield { event: 'chunk', text: `${i}:${big}` }
      }
    } finally {
      log.push('finally')
    }
  }
  const { app, port } = await listen(t, { maxBufferedBytes: 64 * 1024 }, (app) => {
    app.get('/answer', (_request, reply) => {
      stream = reply.sse({ topics: [] })
      done = stream.sendAll(source(), { highWaterMark: 32 * 1024 })
    })
  })
  const client = new RawSseClient(port, '/answer', {}, { read: false })
  t.teardown(() => client.close())
  // Stalled: the kernel's buffers fill, then the server's backlog passes highWaterMark and the source waits.
  let pulls = -1
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    if (log.length === pulls) break
    pulls = log.length
  }
  const backlog = (stream as unknown as { backlogBytes: number }).backlogBytes
  t.ok(backlog <= 32 * 1024 + 9 * 1024, `the server holds at most highWaterMark plus one message (${backlog} bytes)`)
  t.ok(backlog > 0, 'the client really stopped reading')
  t.equal(app.sse.stats().dropped, 0, 'sendAll never drops its client as slow')
  t.equal(stream!.signal.aborted, false)
  const paused = log.length
  client.socket.resume()
  await client.until(() => client.events.length >= paused + 20, 'reading resumes the source', 10_000)
  t.ok(log.length >= paused + 20, 'the source was pulled again')
  client.close()
  await done
  t.equal(log.at(-1), 'finally', 'a client that leaves stops the source: its finally ran')
  t.equal(await stream!.closed, 'client')
})

test('a Readable source: backpressure holds, and a client that leaves destroys it', async (t) => {
  let pulled = 0
  let stream: SseStream | undefined
  let done: Promise<void> | undefined
  const readable = new Readable({
    objectMode: true,
    highWaterMark: 1,
    read () { this.push({ event: 'chunk', text: `${pulled++}:${'y'.repeat(4096)}` }) }
  })
  const { port } = await listen(t, {}, (app) => {
    app.get('/answer', (_request, reply) => {
      stream = reply.sse({ topics: [] })
      done = stream.sendAll(readable, { highWaterMark: 16 * 1024 })
    })
  })
  const client = new RawSseClient(port, '/answer', {}, { read: false })
  let last = -1
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    if (pulled === last) break
    last = pulled
  }
  t.ok((stream as unknown as { backlogBytes: number }).backlogBytes <= 16 * 1024 + 4200, 'at most highWaterMark plus one message held')
  client.close()
  await done
  t.equal(readable.destroyed, true, 'the Readable was destroyed')
  t.equal(await stream!.closed, 'client')
})

test('the stream ends while the source is busy: sendAll resolves, and the source is stopped when it yields', async (t) => {
  const gate = new HandlerGate()
  const log: string[] = []
  let done: Promise<void> | undefined
  let stream: SseStream | undefined
  async function * slow (): AsyncGenerator<{ event: string, text: string }> {
    try {
      yield { event: 'token', text: 'first' }
      await gate.pass() // a model still thinking
      log.push('resumed')
      yield { event: 'token', text: 'never sent' }
    } finally {
      log.push('finally')
    }
  }
  const { port } = await listen(t, {}, (app) => {
    app.get('/answer', (_request, reply) => {
      stream = reply.sse({ topics: [] })
      done = stream.sendAll(slow())
    })
  })
  const client = new RawSseClient(port, '/answer')
  await client.eventCount(1)
  await gate.reached
  stream!.close()
  await done
  t.same(log, [], 'resolved without waiting for the busy source')
  gate.open()
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(log, ['resumed', 'finally'], 'return() took effect at its next yield')
  t.same(client.events.map((e) => e.data), ['first'])
})

test('a source that throws, or a message that fails its check: nothing of it is written, the source is stopped, the stream closed, the promise rejects', async (t) => {
  const log: string[] = []
  const outcomes: unknown[] = []
  const { port } = await listen(t, { events: { token: Type.String({ maxLength: 5 }), final: Type.Literal('[DONE]') } }, (app) => {
    app.get('/throws', async (_request, reply) => {
      const stream = reply.sse({ topics: [] })
      async function * failing (): AsyncGenerator<{ event: 'token', text: string }> {
        yield { event: 'token', text: 'ok' }
        throw new Error('model crashed')
      }
      outcomes.push(await stream.sendAll(failing()).catch((err: Error) => err.message))
      outcomes.push(await stream.closed)
    })
    app.get('/invalid', async (_request, reply) => {
      const stream = reply.sse({ topics: [] })
      async function * source (): AsyncGenerator<{ event: 'token', text: string }> {
        try {
          yield { event: 'token', text: 'ok' }
          yield { event: 'token', text: 'far too long' }
          yield { event: 'token', text: 'never' }
        } finally {
          log.push('finally')
        }
      }
      outcomes.push(await stream.sendAll(source()).catch((err: { code: string }) => err.code))
      outcomes.push(await stream.closed)
    })
    app.get('/not-iterable', async (_request, reply) => {
      const stream = reply.sse({ topics: [] })
      for (const [source, options] of [[42, undefined], ['text', undefined], [[], { highWaterMark: -1 }], [[], { close: 'no' }], [[], { other: 1 }], [[], 'x']] as const) {
        outcomes.push(await stream.sendAll(source as never, options as never).catch((err: { code: string }) => err.code))
      }
      stream.close()
    })
  })
  for (const path of ['/throws', '/invalid']) {
    const client = new RawSseClient(port, path)
    t.teardown(() => client.close())
    await client.responseEnd()
    t.same(client.events.map((e) => e.data), ['ok'], `${path}: only the good message was written`)
  }
  t.same(outcomes, ['model crashed', 'server', 'FST_SSE_INVALID_DATA', 'server'])
  t.same(log, ['finally'], 'the source was stopped')
  const client = new RawSseClient(port, '/not-iterable')
  t.teardown(() => client.close())
  await client.responseEnd()
  t.same(outcomes.slice(4), Array(6).fill('FST_SSE_INVALID_FIELD'))
})

test('sendAll on a topic stream whose start waits on the store, and on an ended stream', async (t) => {
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => {
      const stream = reply.sse({ topics: ['news'] })
      return stream.sendAll([{ event: 'hello', data: 1 }], { close: false })
    })
    app.get('/ended', async (_request, reply) => {
      const stream = reply.sse({ topics: [] })
      stream.close()
      const log: string[] = []
      await stream.sendAll((function * () { try { yield { event: 'e', data: 1 } } finally { log.push('finally') } })())
      reply.raw.socket?.destroy()
      app.log.info(log)
    })
  })
  const first = await app.sse.publish({ event: 'e', data: 0, topic: 'news' })
  const client = new RawSseClient(port, '/events', { 'last-event-id': 'x' })
  t.teardown(() => client.close())
  await client.eventCount(3)
  t.same(client.events.map((e) => [e.type, e.lastEventId]), [['sse-reset', client.events[0].lastEventId], ['e', first.id], ['hello', first.id]], 'the reset and replay, then the message')
})

test('a source whose return() throws is still stopped quietly', async (t) => {
  let stream: SseStream | undefined
  let done: Promise<void> | undefined
  const source = {
    [Symbol.iterator] () {
      let i = 0
      return {
        next: () => ({ done: false, value: { event: 'n', data: i++ } }),
        return: (): IteratorResult<never> => { throw new Error('cannot stop') }
      }
    }
  }
  const { port } = await listen(t, {}, (app) => {
    app.get('/answer', (_request, reply) => {
      stream = reply.sse({ topics: [] })
      done = stream.sendAll(source, { highWaterMark: 1024 })
    })
  })
  const client = new RawSseClient(port, '/answer')
  await client.eventCount(10)
  client.close()
  t.equal(await done, undefined)
  t.equal(await stream!.closed, 'client')
})

test('sendAll\'s own backlog never gets its client dropped as slow, heartbeats or not', async (t) => {
  let stream: SseStream | undefined
  const { app, port } = await listen(t, { maxBufferedBytes: 16 * 1024, heartbeat: 20 }, (app) => {
    app.get('/answer', (_request, reply) => {
      stream = reply.sse({ topics: [] })
      stream.sendAll((function * () { for (let i = 0; ; i++) yield { event: 'chunk', text: `${i}:${'z'.repeat(1024)}` } })(), { highWaterMark: 64 * 1024 })
    })
  })
  const client = new RawSseClient(port, '/answer', {}, { read: false })
  t.teardown(() => client.close())
  // Stalled for many heartbeat periods, with up to highWaterMark (4× maxBufferedBytes) of its own.
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.equal(stream!.signal.aborted, false)
  t.equal(app.sse.stats().dropped, 0)
  client.socket.resume()
  await client.eventCount(200)
})
