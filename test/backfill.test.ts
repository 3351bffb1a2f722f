// Backfill: a stream opened without a Last-Event-ID first gets the newest n retained events of
// its topics (or all), in publish order, with an exact boundary to live events. Both stores.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { stores } from './helpers/stores'

function route (app: FastifyInstance): void {
  app.get('/events', (request, reply) => {
    const { topics, backfill } = request.query as { topics: string, backfill: string }
    return reply.sse({ topics: topics.split(','), backfill: backfill === 'all' ? 'all' : Number(backfill) })
  })
}

for (const store of stores) {
  test(`${store.name}: backfill n / 'all' / 0, across topics in publish order, then live`, { skip: store.skip }, async (t) => {
    const { app, port } = await listen(t, { ...store.options(t), history: 3 }, route)
    for (const [topic, data] of [['a', 1], ['b', 2], ['c', 3], ['a', 4], ['a', 5], ['b', 6], ['a', 7]] as const) {
      await app.sse.publish({ event: 'e', data, topic })
    }
    // a keeps 4, 5, 7 (history 3); b keeps 2, 6.
    const cases = [['2', [6, 7]], ['4', [4, 5, 6, 7]], ['all', [2, 4, 5, 6, 7]], ['100', [2, 4, 5, 6, 7]]] as const
    for (const [backfill, expected] of cases) {
      const client = new RawSseClient(port, `/events?topics=a,b&backfill=${backfill}`)
      t.teardown(() => client.close())
      await client.eventCount(expected.length)
      t.same(client.events.map((e) => Number(e.data)), expected, `backfill ${backfill}`)
      t.equal(client.items.filter((i) => i.kind === 'id-only').length, 0, 'the backfill ids take the place of the priming frame')
    }
    const none = new RawSseClient(port, '/events?topics=a,b&backfill=0')
    t.teardown(() => none.close())
    await none.until(() => none.items.some((i) => i.kind === 'id-only'), 'the priming frame')
    const empty = new RawSseClient(port, '/events?topics=nothing&backfill=all')
    t.teardown(() => empty.close())
    await empty.until(() => empty.items.some((i) => i.kind === 'id-only'), 'the priming frame when there is nothing to backfill')
    const live = await app.sse.publish({ event: 'e', data: 8, topic: 'b' })
    await none.eventCount(1)
    t.equal(none.events[0].lastEventId, live.id)
  })

  test(`${store.name}: the backfill → live boundary is exact under concurrent publishes`, { skip: store.skip }, async (t) => {
    const { app, port } = await listen(t, { ...store.options(t), history: 10_000 }, route)
    let n = 0
    const state = { publishing: true }
    const publisher = (async () => {
      // A few per turn of the event loop, so streams open in between.
      while (state.publishing) {
        for (let i = 0; i < 3; i++) await app.sse.publish({ event: 'e', data: ++n, topic: 'x' })
        await new Promise((resolve) => setImmediate(resolve))
      }
    })()
    const clients: RawSseClient[] = []
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5))
      const client = new RawSseClient(port, '/events?topics=x&backfill=all')
      t.teardown(() => client.close())
      clients.push(client)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
    state.publishing = false
    await publisher
    for (const client of clients) {
      await client.eventCount(n)
      t.same(client.events.map((e) => Number(e.data)), Array.from({ length: n }, (_, i) => i + 1), 'every event once, in order')
    }
  })
}

test('backfill must be a non-negative integer or \'all\'', async (t) => {
  const { url } = await listen(t, {}, (app) => {
    app.get('/bad/:kind', (request, reply) => {
      const kind = (request.params as { kind: string }).kind
      const backfill = ({ negative: -1, fraction: 1.5, null: null, string: '3', infinite: Infinity, nan: NaN } as Record<string, unknown>)[kind]
      try {
        reply.sse({ backfill: backfill as number })
      } catch (err) {
        return reply.code(500).send({ code: (err as { code: string }).code, message: (err as Error).message })
      }
    })
  })
  for (const kind of ['negative', 'fraction', 'null', 'string', 'infinite', 'nan']) {
    const response = await fetch(`${url}/bad/${kind}`)
    t.equal(response.status, 500, kind)
    t.match(await response.json(), { code: 'FST_SSE_INVALID_FIELD', message: /`backfill` must be a non-negative integer or 'all'/ }, kind)
  }
})

test('with a Last-Event-ID the exact replay applies instead of the backfill', async (t) => {
  const { app, port } = await listen(t, {}, route)
  const first = await app.sse.publish({ event: 'e', data: 1, topic: 'x' })
  await app.sse.publish({ event: 'e', data: 2, topic: 'x' })
  const client = new RawSseClient(port, '/events?topics=x&backfill=all', { 'last-event-id': first.id })
  t.teardown(() => client.close())
  await client.eventCount(1)
  t.same(client.events.map((e) => e.data), ['2'])
})

test('a backfill larger than maxBufferedBytes does not get a client dropped as slow at the next publish', async (t) => {
  let stream: import('../lib/index').SseStream | undefined
  const { app, port } = await listen(t, { maxBufferedBytes: 64 * 1024, history: 2000 }, (app) => {
    app.get('/events', (_request, reply) => { stream = reply.sse({ topics: ['answer:1'], backfill: 'all' }) })
  })
  const payload = 'p'.repeat(2000)
  for (let i = 0; i < 1000; i++) await app.sse.publish({ event: 'e', text: `${i}:${payload}`, topic: 'answer:1' })
  const client = new RawSseClient(port, '/events', {}, { read: false })
  t.teardown(() => client.close())
  await new Promise((resolve) => setTimeout(resolve, 100)) // the backfill (2 MB) sits in the server's buffers
  await app.sse.publish({ event: 'e', text: 'live', topic: 'answer:1' })
  t.equal(stream!.signal.aborted, false, 'its backfill is paced by the client, not counted as its backlog')
  client.socket.resume()
  await client.eventCount(1001, 10_000)
  t.equal(client.events.at(-1)?.data, 'live')
})
