// Several app instances in one process sharing the Redis on 127.0.0.1:6379, each test under
// its own key prefix: delivery everywhere with one id, exact replay on another instance,
// resets, history 0, and who owns which connection.
import { test, type Test } from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { redisStore } from '../lib/redis'
import type { SseStream } from '../lib/index'
import { listen, type TestApp } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { adminClient, eventually, REDIS_URL, redisSkip, testPrefix } from './helpers/redis'

const skip = redisSkip

function topicRoutes (app: FastifyInstance): void {
  app.get('/events', (request, reply) => {
    const { topics } = request.query as { topics?: string }
    reply.sse(topics === undefined ? undefined : { topics: topics.split(',') })
  })
}

async function instance (t: Test, keyPrefix: string, history = 1000): Promise<TestApp> {
  return listen(t, { history, store: redisStore({ url: REDIS_URL, keyPrefix }) }, topicRoutes)
}

async function primed (t: Test, port: number, path = '/events', headers: Record<string, string> = {}): Promise<RawSseClient> {
  const client = new RawSseClient(port, path, headers)
  t.teardown(() => client.close())
  if (Object.keys(headers).length === 0) await client.until(() => client.items.some((i) => i.kind === 'id-only'), 'the priming frame')
  else await client.opened()
  return client
}

test('an event published on any instance reaches every instance, with the same id, in the same order', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const a = await instance(t, keyPrefix)
  const b = await instance(t, keyPrefix)
  const onA = await primed(t, a.port)
  const onB = await primed(t, b.port)
  t.equal(onA.parser.lastEventId, onB.parser.lastEventId, 'both instances prime new streams with the same newest id')

  const ids: string[] = []
  for (let i = 0; i < 6; i++) ids.push((await (i % 2 === 0 ? a : b).app.sse.publish({ event: 'n', data: { i } })).id)
  // Published concurrently from both instances: Redis decides one order, every client sees it.
  const concurrent = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).app.sse.publish({ event: 'n', data: { i: 6 + i } })))
  ids.push(...concurrent.map((r) => r.id).sort((x, y) => Number(x.split('-')[1]) - Number(y.split('-')[1])))

  await onA.eventCount(46)
  await onB.eventCount(46)
  t.equal(new Set(ids).size, 46, 'every id is new')
  t.same(onA.events.map((e) => e.lastEventId), ids, 'instance A delivers every event once, in seq order')
  t.same(onB.events.map((e) => e.data), onA.events.map((e) => e.data), 'instance B delivers the same events in the same order')
  t.same(onB.events.map((e) => e.lastEventId), ids)
  t.same(a.app.sse.stats().published + b.app.sse.stats().published, 46)
})

test('reconnecting to another instance replays exactly what was missed, across topics, in publish order', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const a = await instance(t, keyPrefix)
  const b = await instance(t, keyPrefix)
  const first = await primed(t, a.port, '/events?topics=x,y')
  await a.app.sse.publish({ event: 'n', data: 1, topic: 'x' })
  const { id: lastSeen } = await b.app.sse.publish({ event: 'n', data: 2, topic: 'y' })
  await first.eventCount(2)
  first.close()

  const missed: string[] = []
  for (const [n, topic, on] of [[3, 'x', b], [4, 'z', a], [5, 'y', a], [6, 'x', b], [7, 'z', b], [8, 'y', b]] as const) {
    const { id } = await on.app.sse.publish({ event: 'n', data: n, topic })
    if (topic !== 'z') missed.push(id)
  }
  const again = await primed(t, b.port, '/events?topics=x,y', { 'Last-Event-ID': lastSeen })
  await again.eventCount(4)
  t.same(again.events.map((e) => e.data), ['3', '5', '6', '8'])
  t.same(again.events.map((e) => e.lastEventId), missed)
  t.notOk(again.events.some((e) => e.type === 'sse-reset'))

  const { id: live } = await a.app.sse.publish({ event: 'n', data: 9, topic: 'x' })
  await again.eventCount(5)
  t.equal(again.events[4].lastEventId, live, 'then live events, from whichever instance')
})

test('a replay racing live publishes loses nothing and repeats nothing', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const a = await instance(t, keyPrefix)
  const b = await instance(t, keyPrefix)
  const { id: start } = await a.app.sse.publish({ event: 'n', data: 0, topic: 'p' })
  const published: Array<Promise<{ id: string }>> = []
  const expected: string[] = []
  // Publishing from both instances while the client reconnects with its Last-Event-ID.
  for (let i = 1; i <= 150; i++) {
    const topic = i % 3 === 0 ? 'other' : i % 3 === 1 ? 'p' : 'q'
    const publish = (i % 2 === 0 ? a : b).app.sse.publish({ event: 'n', data: i, topic })
    published.push(publish)
    if (topic !== 'other') publish.then(({ id }) => expected.push(id), () => {})
    if (i === 40) published.push(primed(t, b.port, '/events?topics=p,q', { 'Last-Event-ID': start }) as unknown as Promise<{ id: string }>)
  }
  const client = (await Promise.all(published))[40] as unknown as RawSseClient
  expected.sort((x, y) => Number(x.split('-')[1]) - Number(y.split('-')[1]))
  await client.eventCount(100)
  t.same(client.events.map((e) => e.lastEventId), expected, 'every event of p and q after the resume point, once, in order')
})

test('sse-reset: unknown ids, and ids whose events are no longer kept', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const a = await instance(t, keyPrefix, 2)
  const b = await instance(t, keyPrefix, 2)
  const { id: first } = await a.app.sse.publish({ event: 'n', data: 1, topic: 'x' })
  for (let n = 2; n <= 5; n++) await b.app.sse.publish({ event: 'n', data: n, topic: n === 3 ? 'y' : 'x' })

  const expired = await primed(t, b.port, '/events?topics=x', { 'Last-Event-ID': first })
  await expired.eventCount(3)
  t.equal(expired.events[0].type, 'sse-reset')
  t.same(JSON.parse(expired.events[0].data), { lastEventId: first, reason: 'expired' })
  t.same(expired.events.slice(1).map((e) => e.data), ['4', '5'], 'then what every topic still holds completely')

  const kept = ['3']
  for (const garbage of ['garbage', `${first.split('-')[0]}-999999`, 'otherepoch-1']) {
    const unknown = await primed(t, a.port, '/events?topics=y', { 'Last-Event-ID': garbage })
    await unknown.eventCount(1 + kept.length)
    t.same(JSON.parse(unknown.events[0].data), { lastEventId: garbage, reason: 'unknown' }, garbage)
    t.same(unknown.events.slice(1).map((e) => e.data), kept, 'then every retained event of the topic')
    // The reset's id resumes exactly: reconnecting with it is not reset again.
    const resumed = await primed(t, b.port, '/events?topics=y', { 'Last-Event-ID': unknown.parser.lastEventId })
    const { id } = await a.app.sse.publish({ event: 'n', data: kept.length, topic: 'y' })
    kept.push(String(kept.length))
    if (kept.length > 2) kept.shift()
    await resumed.eventCount(1)
    t.same(resumed.events.map((e) => e.lastEventId), [id])
  }
})

test('history 0: no replay; a reconnect that missed events is reset, one that missed none resumes', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const a = await instance(t, keyPrefix, 0)
  const b = await instance(t, keyPrefix, 0)
  const { id: seen } = await a.app.sse.publish({ event: 'n', data: 1, topic: 'x' })
  await b.app.sse.publish({ event: 'n', data: 2, topic: 'y' })

  const resumes = await primed(t, b.port, '/events?topics=x', { 'Last-Event-ID': seen })
  await b.app.sse.publish({ event: 'n', data: 3, topic: 'x' })
  await resumes.eventCount(1)
  t.same(resumes.events.map((e) => e.data), ['3'], 'nothing of x was missed: no reset')

  const reset = await primed(t, a.port, '/events?topics=x', { 'Last-Event-ID': seen })
  await reset.eventCount(1)
  t.same(JSON.parse(reset.events[0].data), { lastEventId: seen, reason: 'expired' })
})

test('connections: the store closes those it created, never a client passed in', { skip }, async (t) => {
  const admin = await adminClient(t)
  const named = async (prefix: string): Promise<string[]> => {
    const list = await admin.client('LIST') as string
    return list.split('\n').map((line) => /name=(\S*)/.exec(line)?.[1] ?? '').filter((name) => name.includes(prefix)).sort()
  }

  const ownPrefix = testPrefix(t)
  const own = await instance(t, ownPrefix)
  t.same(await named(ownPrefix), ['commands', 'reader', 'replays'].map((role) => `fastify-sse-hub:${ownPrefix}:${role}`))
  await own.app.close()
  await eventually(async () => { if ((await named(ownPrefix)).length > 0) throw new Error('still open') }, 'the connections it created to close with the app')

  const passedPrefix = testPrefix(t)
  const client = new Redis(REDIS_URL, { connectionName: 'user-client' })
  t.teardown(() => client.disconnect())
  const passed = await listen(t, { store: redisStore({ client, keyPrefix: passedPrefix }) }, topicRoutes)
  const stream = await primed(t, passed.port)
  await passed.app.sse.publish({ event: 'n', data: 1 })
  await stream.eventCount(1)
  t.same(await named(passedPrefix), ['reader', 'replays'].map((role) => `fastify-sse-hub:${passedPrefix}:${role}`), 'only the reader and the replays connection are its own')
  await passed.app.close()
  await eventually(async () => { if ((await named(passedPrefix)).length > 0) throw new Error('still open') }, 'its own connections to close with the app')
  t.equal(client.status, 'ready', 'the client passed in stays open')
  t.equal(await client.ping(), 'PONG')
})

test('a client passed in may be connected, still connecting, or not connected yet (lazyConnect)', { skip }, async (t) => {
  for (const state of ['ready', 'connecting', 'wait']) {
    const client = new Redis(REDIS_URL, { lazyConnect: state === 'wait' })
    t.teardown(() => client.disconnect())
    if (state === 'ready') await client.ping()
    t.equal(client.status, state)
    const { app } = await listen(t, { store: redisStore({ client, keyPrefix: testPrefix(t) }) })
    t.equal(client.status, 'ready')
    t.match(await app.sse.publish({ event: 'n', data: 1 }), { id: /-1$/ })
  }
})

test('one store object serves one app', { skip }, async (t) => {
  const store = redisStore({ url: REDIS_URL, keyPrefix: testPrefix(t) })
  await listen(t, { store })
  await t.rejects(listen(t, { store }), { code: 'FST_SSE_INVALID_OPTION', message: /"store" is already used by another app/ })
})

test('await publish() resolves once the event is delivered here: a send or close() after it follows it', { skip }, async (t) => {
  const store = redisStore({ url: REDIS_URL, keyPrefix: testPrefix(t) })
  const streams: SseStream[] = []
  const { app, port } = await listen(t, { store }, (app) => {
    app.get('/events', (_request, reply) => { streams.push(reply.sse()) })
  })
  const client = await primed(t, port)
  // The reader's next reads answer late, as over a slower connection than the publisher's (the
  // read already waiting answers event 1 at once).
  const reader = (store as unknown as { reader: Redis }).reader
  const xread = reader.xread.bind(reader) as (...args: unknown[]) => Promise<unknown>
  reader.xread = (async (...args: unknown[]) => {
    const reply = await xread(...args)
    await delay(100)
    return reply
  }) as never
  await app.sse.publish({ event: 'n', data: 1 })
  await client.eventCount(1)
  await app.sse.publish({ event: 'n', data: 2 })
  streams[0].send({ event: 'after', data: 'the publish' })
  streams[0].close()
  await client.until(() => client.ended, 'the end of the stream')
  t.same(client.events.map((e) => `${e.type}:${e.data}`), ['n:1', 'n:2', 'after:"the publish"'])
})
