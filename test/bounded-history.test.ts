// Bounded history in the memory store, through the plugin: the byte budget, the age limit,
// forgotten topics, finished marks that expire, and what stats() reports.
import { test, type Test } from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { FastifyInstance } from 'fastify'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { MemoryStore } from '../lib/store/memory-store'
import { eventBytes, topicBytes } from '../lib/store/retained-size'
import { bucketOf } from '../lib/store/forgotten-topics'

const userRoutes = (app: FastifyInstance): void => {
  app.get('/events/:user', (request, reply) => reply.sse({ topics: [`user:${(request.params as { user: string }).user}`] }))
}

async function reconnect (t: Test, port: number, user: string, lastEventId: string): Promise<RawSseClient> {
  const client = new RawSseClient(port, `/events/${user}`, { 'last-event-id': lastEventId })
  t.teardown(() => client.close())
  await client.opened()
  return client
}

/** Resolves once `check()` holds, polling; the store's sweep runs on its own timer. */
async function eventually (check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

test('stats() reports the topics with retained events and their bytes; the budget bounds them', async (t) => {
  const perTopic = topicBytes('user:100') + eventBytes('user:100', 'n', '0')
  const { app } = await listen(t, { historyMaxBytes: 10 * perTopic }, userRoutes)
  t.same(app.sse.stats(), { connections: 0, published: 0, dropped: 0, topics: 0, retainedBytes: 0 })
  await app.sse.publish({ event: 'n', data: 0, topic: 'user:100' })
  t.same(app.sse.stats(), { connections: 0, published: 1, dropped: 0, topics: 1, retainedBytes: perTopic })
  for (let i = 1; i < 100; i++) await app.sse.publish({ event: 'n', data: i % 10, topic: `user:${100 + i}` })
  const stats = app.sse.stats()
  t.equal(stats.topics, 10, 'the ten most recently published topics')
  t.ok((stats.retainedBytes as number) <= 10 * perTopic)
})

test('a client that missed an event the byte budget dropped, or whose topic was forgotten, is reset; one that missed nothing resumes', async (t) => {
  const { app, port } = await listen(t, { historyMaxBytes: 3 * (topicBytes('user:1') + eventBytes('user:1', 'n', '10')) }, userRoutes)
  const first = await app.sse.publish({ event: 'n', data: 1, topic: 'user:1' })
  const missed = await app.sse.publish({ event: 'n', data: 2, topic: 'user:1' })
  for (let i = 2; i < 10; i++) await app.sse.publish({ event: 'n', data: i, topic: `user:${i}` })
  t.equal(app.sse.stats().topics, 3)

  const reset = await reconnect(t, port, '1', first.id)
  await reset.eventCount(1)
  t.equal(reset.events[0].type, 'sse-reset')
  t.same(JSON.parse(reset.events[0].data), { lastEventId: first.id, reason: 'expired' })

  const upToDate = await reconnect(t, port, '1', missed.id)
  await app.sse.publish({ event: 'n', data: 'live', topic: 'user:1' })
  await upToDate.eventCount(1)
  t.same(upToDate.events.map((e) => e.data), ['"live"'], 'nothing missed on a forgotten topic: no reset (the bucket is exact here)')
})

test('a topic with an open stream is never forgotten: its client resumes without a reset', async (t) => {
  const { app, port } = await listen(t, { historyMaxBytes: topicBytes('user:1') + eventBytes('user:1', 'n', '10') }, userRoutes)
  const client = new RawSseClient(port, '/events/1')
  t.teardown(() => client.close())
  await client.until(() => client.parser.lastEventId !== '', 'the priming frame')
  const got = await app.sse.publish({ event: 'n', data: 1, topic: 'user:1' })
  await client.eventCount(1)
  // Other users' events push user:1 out of the budget.
  for (let i = 2; i < 2000; i++) await app.sse.publish({ event: 'n', data: 1, topic: `user:${i}` })
  t.ok((app.sse.stats().topics as number) <= 1, 'user:1 is long gone from the budget')
  const again = await reconnect(t, port, '1', got.id)
  await app.sse.publish({ event: 'n', data: 2, topic: 'user:1' })
  await again.eventCount(1)
  t.same(again.events.map((e) => e.type), ['n'], 'no sse-reset: the topic was held exact while a stream was open on it')
})

test('age: an event older than historyMaxAge is not replayed; the sweep lets old topics go', async (t) => {
  let now = 1_000_000
  const store = new MemoryStore({ now: () => now, sweepInterval: 5 })
  const { app, port } = await listen(t, { historyMaxAge: 1000, store }, userRoutes)
  const old = await app.sse.publish({ event: 'n', data: 1, topic: 'user:1' })
  now += 600
  const young = await app.sse.publish({ event: 'n', data: 2, topic: 'user:1' })
  now += 600
  const client = await reconnect(t, port, '1', old.id)
  await client.eventCount(1)
  t.same(client.events.map((e) => [e.type, e.lastEventId]), [['n', young.id]], 'the young event only: the client has the old one')
  const before = await reconnect(t, port, '1', `${old.id.slice(0, old.id.lastIndexOf('-'))}-0`)
  await before.eventCount(2)
  t.same(before.events.map((e) => e.type), ['sse-reset', 'n'], 'it missed the expired one')
  t.equal(JSON.parse(before.events[0].data).reason, 'expired')
  now += 1000
  await eventually(() => app.sse.stats().topics === 0, 'the sweep')
  t.equal(app.sse.stats().retainedBytes, 0)
})

test('finished marks: kept historyMaxAge after the final event (history 0 too), then the topic takes events again', async (t) => {
  let now = 0
  const store = new MemoryStore({ now: () => now })
  const { app, url } = await listen(t, { historyMaxAge: 1000, history: 0, store }, userRoutes)
  const final = await app.sse.publish({ event: 'n', data: 'end', topic: 'user:1', last: true })
  now += 1000
  await t.rejects(app.sse.publish({ event: 'n', data: 1, topic: 'user:1' }), { code: 'FST_SSE_TOPIC_FINISHED' })
  const response = await fetch(`${url}/events/1`, { headers: { 'last-event-id': final.id } })
  t.equal(response.status, 204, 'a reconnect after the final event is told to stop')
  now += 1
  await app.sse.publish({ event: 'n', data: 1, topic: 'user:1' })
  t.pass('after historyMaxAge the mark is gone')
})

test('a finished topic, forgotten, still tells the client that has its final event to stop, whatever shares its bucket', async (t) => {
  const { app, url } = await listen(t, { historyMaxBytes: 20_000 }, userRoutes)
  let neighbour = 0
  while (bucketOf(`user:x${neighbour}`) !== bucketOf('user:1')) neighbour++
  await app.sse.publish({ event: 'n', data: 'hello', topic: 'user:1' })
  const final = await app.sse.publish({ event: 'n', data: 'done', topic: 'user:1', last: true })
  // Busy topics fill the budget: user:1, least recently published, loses its events and is
  // forgotten; then a topic of the same bucket drops a later event.
  for (let i = 0; i < 40; i++) await app.sse.publish({ event: 'n', data: 'x'.repeat(500), topic: 'busy' })
  await app.sse.publish({ event: 'n', data: 'y'.repeat(500), topic: `user:x${neighbour}` })
  for (let i = 0; i < 40; i++) await app.sse.publish({ event: 'n', data: 'x'.repeat(500), topic: 'busy' })
  t.equal(app.sse.stats().topics, 1, 'only the busy topic is kept')
  const response = await fetch(`${url}/events/1`, { headers: { 'last-event-id': final.id } })
  t.equal(response.status, 204, 'nothing can follow the final event: no reset, the end')
  await t.rejects(app.sse.publish({ event: 'n', data: 1, topic: 'user:1' }), { code: 'FST_SSE_TOPIC_FINISHED' })
})

test('with a stream open on the topic, the history still takes about historyMaxBytes: no encoded copy of each event stays', async (t) => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const budget = 8 << 20
  const used = (): number => { gc(); gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers }
  /** What 30,000 events of 1 KB add to the heap, with or without a client reading them. */
  async function growth (withClient: boolean): Promise<number> {
    const { app, port } = await listen(t, { heartbeat: 0, history: 1_000_000, historyMaxBytes: budget }, userRoutes)
    const client = withClient ? new RawSseClient(port, '/events/1') : undefined
    t.teardown(() => client?.close())
    await client?.opened()
    const start = used()
    const data = 'x'.repeat(1000)
    for (let i = 0; i < 30_000; i++) {
      await app.sse.publish({ event: 'n', data: data + i, topic: 'user:1' })
      if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    await client?.eventCount(30_000, 20_000)
    if (client !== undefined) {
      // What the test's client kept is not the server's.
      client.items.length = 0
      client.body = ''
    }
    t.equal(app.sse.stats().retainedBytes! <= budget, true)
    const grown = used() - start
    await app.close()
    return grown
  }
  // Measured against the same history without a client, so each Node.js line's own heap sizes cancel out.
  const alone = await growth(false)
  const read = await growth(true)
  t.ok(read - alone < 0.5 * budget, `the heap grew ${(read / 2 ** 20).toFixed(1)} MiB with a client reading, ${(alone / 2 ** 20).toFixed(1)} MiB without, for a ${budget / 2 ** 20} MiB budget`)
})

test('close() releases the sweep timer', async (t) => {
  const store = new MemoryStore({ sweepInterval: 1 })
  const { app } = await listen(t, { store })
  await app.close()
  t.pass()
})
