// Faults, on a private redis-server each test starts, stops, restarts or empties itself (never
// the shared one): Redis down and back, one instance cut off, data lost in several ways, a
// silent network, and boot against a Redis that is not there.
import { once } from 'node:events'
import { test, type Test } from 'tap'
import { Redis } from 'ioredis'
import { redisStore } from '../lib/redis'
import type { SseStore } from '../lib/store/types'
import { listen, type TestApp } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { adminClient, eventually, redisServerSkip, testPrefix } from './helpers/redis'
import { RecordingContext } from './helpers/redis-context'
import { RedisServer, sparePort, TcpProxy } from './helpers/redis-server'

const skip = redisServerSkip
const TIMEOUT = 300

async function instance (t: Test, url: string, keyPrefix: string): Promise<TestApp> {
  return listen(t, { store: redisStore({ url, keyPrefix, timeout: TIMEOUT }) })
}

async function primed (t: Test, port: number, headers: Record<string, string> = {}): Promise<RawSseClient> {
  const client = new RawSseClient(port, '/events', headers)
  t.teardown(() => client.close())
  if (headers['Last-Event-ID'] === undefined) await client.until(() => client.items.some((i) => i.kind === 'id-only'), 'the priming frame')
  else await client.opened()
  return client
}

/** Opens a store directly, with a context that records deliveries; closed in teardown. */
async function openStore (t: Test, options: Parameters<typeof redisStore>[0], withLost = true, history = 100): Promise<{ store: SseStore, recorder: RecordingContext }> {
  const store = redisStore(options)
  const recorder = new RecordingContext(history)
  await store.open(recorder.context(withLost))
  t.teardown(() => store.close())
  return { store, recorder }
}

/** Resolves with what `newestId()` throws once the store stops serving new streams. */
async function unavailable (store: SseStore): Promise<unknown> {
  try {
    store.newestId()
  } catch (err) {
    return err
  }
  throw new Error('still serving')
}

/** A stream opened while the store cannot serve answers 200 and ends at once: the client retries. */
async function opensAndEnds (t: Test, port: number, headers: Record<string, string> = {}): Promise<void> {
  const client = new RawSseClient(port, '/events', headers)
  try {
    await client.until(() => client.ended, 'the stream to end', 1000)
  } finally {
    client.close()
  }
  t.equal(client.response?.status, 200)
  t.same(client.items, [], 'no id, no event')
}

/** A private Redis, two instances on it, and a primed stream on each. */
async function twoInstances (t: Test): Promise<{ server: RedisServer, a: TestApp, b: TestApp, onA: RawSseClient, onB: RawSseClient }> {
  const server = await RedisServer.start(t)
  const keyPrefix = testPrefix(t, server.url)
  const a = await instance(t, server.url, keyPrefix)
  const b = await instance(t, server.url, keyPrefix)
  return { server, a, b, onA: await primed(t, a.port), onB: await primed(t, b.port) }
}

test('Redis down: publish rejects in bounded time, streams stay open, and after a restart with its data they get every event once', { skip }, async (t) => {
  const { server, a, b, onA, onB } = await twoInstances(t)
  const { id: first } = await a.app.sse.publish({ event: 'n', data: 1 })
  await onB.eventCount(1)

  await server.shutdownSaving()
  const started = Date.now()
  const err = await a.app.sse.publish({ event: 'n', data: 'lost' }).catch((error: unknown) => error) as { code: string, cause: unknown }
  t.ok(Date.now() - started < 2 * TIMEOUT, 'within the store timeout')
  t.equal(err.code, 'FST_SSE_STORE_ERROR')
  t.type(err.cause, Error, 'with the cause attached')
  await eventually(() => opensAndEnds(t, b.port), 'b to stop serving new streams')
  const asked = Date.now()
  await opensAndEnds(t, a.port, { 'Last-Event-ID': first })
  t.ok(Date.now() - asked < TIMEOUT, 'a resuming stream too, at once: its replay does not wait for Redis')
  t.notOk(onA.ended || onB.ended, 'open streams stay open')

  await server.run()
  const { id: second } = await eventually(() => a.app.sse.publish({ event: 'n', data: 2 }), 'a to reconnect')
  const { id: third } = await eventually(() => b.app.sse.publish({ event: 'n', data: 3 }), 'b to reconnect')
  await onA.eventCount(3)
  await onB.eventCount(3)
  for (const client of [onA, onB]) {
    t.same(client.events.map((e) => e.lastEventId), [first, second, third], 'every accepted event, once, same history')
    t.same(client.events.map((e) => e.data), ['1', '2', '3'])
  }
})

test('one instance cut off from Redis catches up on every event accepted meanwhile, none twice', { skip }, async (t) => {
  const server = await RedisServer.start(t)
  const proxy = await TcpProxy.start(t, server.port)
  const keyPrefix = testPrefix(t, server.url)
  const a = await instance(t, server.url, keyPrefix)
  const b = await instance(t, proxy.url, keyPrefix)
  const onB = await primed(t, b.port)
  // Its own client gives up reconnecting; the reader the store derives from it must not.
  const client = new Redis(proxy.url, { retryStrategy: () => null })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const { recorder } = await openStore(t, { client, keyPrefix, timeout: TIMEOUT })
  const ids = [(await a.app.sse.publish({ event: 'n', data: 1 })).id]
  await onB.eventCount(1)

  proxy.cut()
  await eventually(() => opensAndEnds(t, b.port), 'b to notice')
  await t.rejects(b.app.sse.publish({ event: 'n', data: 'refused' }), { code: 'FST_SSE_STORE_ERROR' })
  for (let n = 2; n <= 4; n++) ids.push((await a.app.sse.publish({ event: 'n', data: n })).id)
  t.equal(onB.events.length, 1, 'nothing reached b meanwhile')
  t.notOk(onB.ended, 'and its stream is still open')

  proxy.restore()
  await onB.eventCount(4)
  ids.push((await eventually(() => b.app.sse.publish({ event: 'n', data: 5 }), 'b to reconnect')).id)
  await onB.eventCount(5)
  t.same(onB.events.map((e) => e.lastEventId), ids)
  t.same(onB.events.map((e) => e.data), ['1', '2', '3', '4', '5'])
  await recorder.until(() => recorder.events.length === 5, 'the reader of a client that gave up')
  t.same(recorder.events.map((e) => e.id), ids)
  t.equal(client.status, 'end', 'the client passed in gave up, as it was told to')
})

test('Redis restarted empty: a new history whose ids never repeat; old ids are unknown', { skip }, async (t) => {
  const server = await RedisServer.start(t)
  const keyPrefix = testPrefix(t, server.url)
  const a = await instance(t, server.url, keyPrefix)
  const b = await instance(t, server.url, keyPrefix)
  const old: string[] = []
  for (let n = 1; n <= 3; n++) old.push((await a.app.sse.publish({ event: 'n', data: n })).id)

  await server.kill()
  await server.run()
  const fresh = [(await eventually(() => b.app.sse.publish({ event: 'n', data: 4 }), 'b to reconnect')).id]
  fresh.push((await eventually(() => a.app.sse.publish({ event: 'n', data: 5 }), 'a to reconnect')).id)
  t.notSame(fresh[0].split('-')[0], old[0].split('-')[0], 'a new epoch')
  t.notOk(fresh.some((id) => old.includes(id)), 'no id issued twice')

  const resumed = await primed(t, a.port, { 'Last-Event-ID': old[2] })
  await resumed.eventCount(3)
  t.same(JSON.parse(resumed.events[0].data), { lastEventId: old[2], reason: 'unknown' })
  t.same(resumed.events.slice(1).map((e) => e.lastEventId), fresh)
})

test('Redis restarted empty: open streams stay open, get sse-reset in band with an id to resume from, then the new events', { skip }, async (t) => {
  const { server, a, b, onA, onB } = await twoInstances(t)
  const old = (await a.app.sse.publish({ event: 'n', data: 1 })).id
  await onA.eventCount(1)
  await onB.eventCount(1)

  await server.kill()
  await server.run()
  const fresh = [(await eventually(() => b.app.sse.publish({ event: 'n', data: 2 }), 'b to reconnect')).id]
  fresh.push((await eventually(() => a.app.sse.publish({ event: 'n', data: 3 }), 'a to reconnect')).id)
  const epoch = fresh[0].split('-')[0]
  for (const [name, client] of [['a', onA], ['b', onB]] as const) {
    await client.eventCount(4)
    t.notOk(client.ended, `${name}: the stream stayed open`)
    t.same(client.events.map((e) => [e.type, e.lastEventId]), [['n', old], ['sse-reset', `${epoch}-0`], ['n', fresh[0]], ['n', fresh[1]]],
      `${name}: the reset comes before every event of the new history, each once`)
    t.same(JSON.parse(client.events[1].data), { lastEventId: old, reason: 'unknown' })
  }
  // The reset's id resumes exactly: a reconnect from it gets the new history from its start.
  const resumed = await primed(t, b.port, { 'Last-Event-ID': `${epoch}-0` })
  await resumed.eventCount(2)
  t.same(resumed.events.map((e) => e.lastEventId), fresh)
})

test('regression: the instance that started a history starts a different one after Redis lost it', { skip }, async (t) => {
  // It once offered the same epoch again (unless it had published meanwhile), so after Redis
  // restarted empty it went on with the old epoch from seq 1: ids repeated.
  const server = await RedisServer.start(t)
  const keyPrefix = testPrefix(t, server.url)
  const { store, recorder } = await openStore(t, { url: server.url, keyPrefix, timeout: TIMEOUT })
  const [before] = store.newestId().split('-')
  await server.kill()
  await server.run()
  await recorder.until(() => recorder.lost === 1, 'the reader to find a new history')
  const [after] = store.newestId().split('-')
  t.not(after, before, 'a new epoch')
  t.not((await eventually(() => store.append('x', 'n', '1'), 'the store to reconnect')).id.split('-')[0], before)
})

test('a reader that learns of a new history reports the loss, then delivers the new one from its start', { skip }, async (t) => {
  const server = await RedisServer.start(t)
  const keyPrefix = testPrefix(t, server.url)
  const admin = await adminClient(t, server.url)
  const { store: writer } = await openStore(t, { url: server.url, keyPrefix, timeout: TIMEOUT })
  const { recorder } = await openStore(t, { url: server.url, keyPrefix, timeout: TIMEOUT })
  const { recorder: noLost } = await openStore(t, { url: server.url, keyPrefix, timeout: TIMEOUT }, false)
  const before = await writer.append('x', 'n', '1')
  await recorder.until(() => recorder.events.length === 1, 'the first event')

  // Emptied in place, without the connections dropping: the new entries sort after the old.
  await admin.flushall()
  const after = await eventually(() => writer.append('x', 'n', '2'), 'the writer')
  t.not(after.id.split('-')[0], before.id.split('-')[0])
  t.equal(after.seq, 1)
  await recorder.until(() => recorder.events.length === 2, 'the new history')
  t.same(recorder.resets, [`unknown ${after.id.split('-')[0]}-0 after 1`], 'the loss is reported once, before the new history, which resumes from its start')
  t.same(recorder.events.map((e) => e.id), [before.id, after.id])
  await noLost.until(() => noLost.events.length === 2, 'a context without `lost` to carry on')
  t.same(noLost.events.map((e) => e.id), [before.id, after.id])

  // Restarted empty: the reader finds out on reconnecting, before any new event.
  await server.kill()
  await server.run()
  await recorder.until(() => recorder.lost === 2, 'the second loss')
  const third = await eventually(() => writer.append('x', 'n', '3'), 'the writer')
  await recorder.until(() => recorder.events.length === 3, 'the third history')
  t.equal(recorder.events[2].id, third.id)
  t.equal(third.seq, 1)
})

test('a new history whose entries sort before the old position (Redis emptied, its clock behind) is found on a quiet read', { skip }, async (t) => {
  const server = await RedisServer.start(t)
  const keyPrefix = testPrefix(t, server.url)
  const admin = await adminClient(t, server.url)
  // A history started by a Redis whose clock ran a day ahead: its entries are <tomorrow>-<seq>.
  await admin.hset(`{${keyPrefix}}:meta`, 'epoch', 'ahead', 'ms', String(Date.now() + 86_400_000), 'seq', 0)
  const { store: writer, recorder: writerReader } = await openStore(t, { url: server.url, keyPrefix, timeout: TIMEOUT })
  const { recorder } = await openStore(t, { url: server.url, keyPrefix, timeout: TIMEOUT })
  const before = await writer.append('x', 'n', '1')
  await recorder.until(() => recorder.events.length === 1, 'the first event')

  // Emptied in place; the next history starts at Redis' own time, before the readers' position.
  await admin.flushall()
  const after = await writer.append('x', 'n', '2')
  t.not(after.id.split('-')[0], before.id.split('-')[0], 'a new history')
  for (const [name, r] of [['an instance that only reads', recorder], ['the instance that published', writerReader]] as const) {
    await r.until(() => r.events.length === 2, `${name} to deliver the new history`, 20 * TIMEOUT)
    t.equal(r.lost, 1, `${name} reports the loss`)
    t.same(r.events.map((e) => e.id), [before.id, after.id])
  }
})

test('a reader that finds a new history already trimmed past its start reports it unknown, then the trimmed part expired', { skip }, async (t) => {
  const server = await RedisServer.start(t)
  const proxy = await TcpProxy.start(t, server.port)
  const keyPrefix = testPrefix(t, server.url)
  const admin = await adminClient(t, server.url)
  const { store: writer } = await openStore(t, { url: server.url, keyPrefix, timeout: TIMEOUT, logLength: 4 })
  const { recorder } = await openStore(t, { url: proxy.url, keyPrefix, timeout: TIMEOUT, logLength: 4 })
  await writer.append('x', 'n', '0')
  await recorder.until(() => recorder.events.length === 1, 'the first event')
  proxy.cut()
  await admin.flushall()
  let last = ''
  for (let n = 1; n <= 30; n++) last = (await writer.append('x', 'n', String(n))).id
  proxy.restore()
  await recorder.until(() => recorder.events.at(-1)?.id === last, 'the last event')
  await new Promise((resolve) => setTimeout(resolve, 2 * TIMEOUT))
  const epoch = last.slice(0, last.lastIndexOf('-'))
  const first = recorder.events[1]
  t.ok(first.seq > 1, 'the new history\'s first entries were trimmed')
  t.same(recorder.resets, [`unknown ${epoch}-0 after 1`, `expired ${epoch}-${first.seq - 1} after 1`],
    'the old history is gone; then the new one\'s trimmed entries: the second reset resumes right before the first entry delivered')
})

/** How many times `newestId()` refused, sampled every 5 ms for `ms`: new streams refused meanwhile. */
async function refusals (store: SseStore, ms: number): Promise<number> {
  let refused = 0
  for (const until = Date.now() + ms; Date.now() < until;) {
    try {
      store.newestId()
    } catch {
      refused++
    }
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return refused
}

for (const { timeout, delayMs, why } of [
  { timeout: 400, delayMs: 90, why: 'a round trip of 180 ms, well under timeout' },
  { timeout: 100, delayMs: 0, why: 'timeout 100: Redis ends a blocking read on its 100 ms tick' }
]) {
  test(`the watchdog leaves a healthy idle reader alone (${why})`, { skip }, async (t) => {
    const server = await RedisServer.start(t)
    const proxy = await TcpProxy.start(t, server.port)
    const { store } = await openStore(t, { url: proxy.url, keyPrefix: testPrefix(t, server.url), timeout })
    const connections = proxy.connections
    proxy.delayMs = delayMs
    t.equal(await refusals(store, 10 * timeout), 0, 'new streams were never refused')
    t.equal(proxy.connections, connections, 'the reader was never replaced')
  })
}

test('a history that went back in time (an older snapshot, a lagging replica) starts over: ids never repeat', { skip }, async (t) => {
  const server = await RedisServer.start(t)
  const keyPrefix = testPrefix(t, server.url)
  const admin = await adminClient(t, server.url)
  const { store, recorder } = await openStore(t, { url: server.url, keyPrefix, timeout: TIMEOUT })
  const issued: string[] = []
  for (let n = 1; n <= 5; n++) issued.push((await store.append('x', 'n', String(n))).id)
  await recorder.until(() => recorder.events.length === 5, 'five events')

  // As if Redis came back from a snapshot taken after the second event.
  await admin.hset(`{${keyPrefix}}:meta`, 'seq', 2)
  const next = await store.append('x', 'n', '6')
  t.notOk(issued.includes(next.id), `${next.id} was never issued before`)
  t.equal(next.seq, 1, 'a new history')
  await recorder.until(() => recorder.events.length === 6, 'the new history')
  t.equal(recorder.lost, 1)
  t.equal(store.newestId(), next.id)
})

test('an instance further behind than the shared log keeps reports the loss, then carries on', { skip }, async (t) => {
  const server = await RedisServer.start(t)
  const proxy = await TcpProxy.start(t, server.port)
  const keyPrefix = testPrefix(t, server.url)
  const { store: writer } = await openStore(t, { url: server.url, keyPrefix, timeout: TIMEOUT, logLength: 4 })
  const { recorder } = await openStore(t, { url: proxy.url, keyPrefix, timeout: TIMEOUT, logLength: 4 })
  await writer.append('x', 'n', '1')
  await recorder.until(() => recorder.events.length === 1, 'the first event')

  proxy.cut()
  const ids: string[] = []
  for (let n = 2; n <= 30; n++) ids.push((await writer.append('x', 'n', String(n))).id)
  proxy.restore()
  await recorder.until(() => recorder.events.at(-1)?.id === ids.at(-1), 'the last event')
  const delivered = recorder.events.slice(1).map((e) => e.id)
  const resumeAt = recorder.events[1].seq - 1
  t.same(recorder.resets, [`expired ${ids[0].split('-')[0]}-${resumeAt} after 1`], 'the trimmed events are reported expired, right before the first one delivered')
  t.ok(delivered.length < ids.length, 'the log no longer held them all')
  t.same(delivered, ids.slice(-delivered.length), 'what it still held arrives in order, once')
})

test('a silent network: publishes fail in bounded time, the reader is replaced; a command that was only late is not lost', { skip }, async (t) => {
  const server = await RedisServer.start(t)
  const proxy = await TcpProxy.start(t, server.port)
  const keyPrefix = testPrefix(t, server.url)
  const { store: writer } = await openStore(t, { url: server.url, keyPrefix, timeout: TIMEOUT })
  const { store: own, recorder } = await openStore(t, { url: proxy.url, keyPrefix, timeout: TIMEOUT })
  const client = new Redis(proxy.url)
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const { store: passed } = await openStore(t, { client, keyPrefix, timeout: TIMEOUT })
  const ids = [(await writer.append('x', 'n', '1')).id]
  await recorder.until(() => recorder.events.length === 1, 'the first event')

  proxy.freeze()
  for (const store of [own, passed]) {
    const started = Date.now()
    await t.rejects(store.append('x', 'n', 'unanswered'), { code: 'FST_SSE_STORE_ERROR', cause: { message: /did not answer within 300 ms/ } })
    t.ok(Date.now() - started < 2 * TIMEOUT, 'bounded by the timeout')
  }
  t.match(await eventually(() => unavailable(own), 'the watchdog to replace the reader'), { code: 'FST_SSE_STORE_ERROR' })
  for (let n = 2; n <= 3; n++) ids.push((await writer.append('x', 'n', String(n))).id)

  proxy.restore()
  // Each command was only delayed: one late command is not a dead connection, so neither store
  // dropped its connection, and Redis runs both when the network recovers, though their
  // publishes were rejected (API.md: it errs towards telling the caller).
  await recorder.until(() => recorder.events.length === 5, 'the events sent meanwhile')
  t.same(recorder.events.slice(0, 3).map((e) => e.id), ids)
  ids.push((await eventually(() => own.append('x', 'n', '4'), 'the command connection')).id)
  await recorder.until(() => recorder.events.length === 6, 'the next event')
  t.same(recorder.events.map((e) => e.data), ['1', '2', '3', 'unanswered', 'unanswered', '4'], 'every event once, in order')
  t.equal(recorder.events[5].id, ids[3])
  t.equal(recorder.lost, 0)
})

test('a script that fails writes nothing; a reader that gets an error retries without spinning', { skip }, async (t) => {
  const server = await RedisServer.start(t)
  const keyPrefix = testPrefix(t, server.url)
  const admin = await adminClient(t, server.url)
  await admin.script('FLUSH')
  const { store, recorder } = await openStore(t, { url: server.url, keyPrefix, timeout: TIMEOUT })

  await admin.set(`{${keyPrefix}}:history:broken`, 'not a list')
  await t.rejects(store.append('broken', 'n', '1'), { code: 'FST_SSE_STORE_ERROR', cause: { message: /WRONGTYPE/ } })
  t.equal(await admin.hget(`{${keyPrefix}}:meta`, 'seq'), '0', 'no id was used')
  t.equal(await admin.exists(`{${keyPrefix}}:log`), 0, 'nothing reached the log')
  await t.rejects(async () => await store.replay(['broken'], { lastEventId: store.newestId() }), { code: 'FST_SSE_STORE_ERROR', cause: { message: /WRONGTYPE/ } })

  // The shared log or the checkpoints of another type: refused before anything is written.
  for (const key of ['log', 'checkpoints']) {
    await admin.set(`{${keyPrefix}}:${key}`, 'not a stream or sorted set')
    await t.rejects(store.append('x', 'n', '1'), { code: 'FST_SSE_STORE_ERROR', cause: { message: /WRONGTYPE/ } }, key)
    t.equal(await admin.hget(`{${keyPrefix}}:meta`, 'seq'), '0', `${key}: no id was used`)
    t.equal(await admin.exists(`{${keyPrefix}}:history:x`), 0, `${key}: nothing reached the topic`)
    await admin.del(`{${keyPrefix}}:${key}`)
  }

  await admin.set(`{${keyPrefix}}:log`, 'not a stream')
  t.match(await eventually(() => unavailable(store), 'the reader to fail'), { code: 'FST_SSE_STORE_ERROR', cause: { message: /WRONGTYPE/ } })
  await admin.del(`{${keyPrefix}}:log`)
  const { id } = await store.append('x', 'n', '2')
  await recorder.until(() => recorder.events.length === 1, 'the reader to recover')
  t.equal(recorder.events[0].id, id)
  t.equal(store.newestId(), id)

  // Keys of the earlier layout (a stream per topic, a hash of dropped ids, finished marks)
  // are not read: a topic with one publishes and replays as a forgotten topic would.
  await admin.xadd(`${keyPrefix}:topic:old`, '1-1', 'e', 'n', 'd', '1')
  await admin.hset(`${keyPrefix}:dropped`, 'old', '1-1')
  await admin.set(`${keyPrefix}:finished:old`, '1-1')
  const { id: old } = await store.append('old', 'n', '1')
  t.same((await store.replay(['old'], { backfill: Infinity })).events.map((e) => e.id), [old])
})

test('boot fails fast and clearly when Redis is unreachable', { skip }, async (t) => {
  const deadUrl = `redis://127.0.0.1:${await sparePort()}`
  let started = Date.now()
  await t.rejects(listen(t, { store: redisStore({ url: deadUrl }) }), {
    code: 'FST_SSE_STORE_ERROR',
    message: new RegExp(`connect to Redis \\(${deadUrl}\\) \\(connect ECONNREFUSED [^)]+\\); check that it is running`),
    cause: { code: 'ECONNREFUSED' }
  })
  t.ok(Date.now() - started < 1000, 'a refused connection fails at once')

  for (const lazyConnect of [false, true]) {
    const client = new Redis(deadUrl, { lazyConnect })
    client.on('error', () => {})
    t.teardown(() => client.disconnect())
    await t.rejects(redisStore({ client }).open(new RecordingContext(1).context()), {
      code: 'FST_SSE_STORE_ERROR',
      message: /the ioredis client passed in/
    }, `lazyConnect: ${lazyConnect}`)
  }

  const server = await RedisServer.start(t)
  const closed = new Redis(server.url)
  const ended = once(closed, 'end')
  await closed.quit()
  await ended
  await t.rejects(redisStore({ client: closed }).open(new RecordingContext(1).context()), {
    code: 'FST_SSE_STORE_ERROR',
    cause: { message: /client passed to redisStore\(\) was closed/ }
  })

  // Answers, but with an error: said so, not mistaken for an unreachable Redis.
  const admin = await adminClient(t, server.url)
  await admin.set('{foreign}:meta', 'not a hash')
  await t.rejects(redisStore({ url: server.url, keyPrefix: 'foreign' }).open(new RecordingContext(1).context()), {
    code: 'FST_SSE_STORE_ERROR',
    message: /could not read its history from Redis \(redis:\/\/127\.0\.0\.1:\d+\), which answered with an error/,
    cause: { message: /WRONGTYPE/ }
  })

  // Accepts the connection but never answers: bounded by `timeout`.
  const proxy = await TcpProxy.start(t, server.port)
  proxy.freeze()
  started = Date.now()
  await t.rejects(redisStore({ url: proxy.url, timeout: TIMEOUT }).open(new RecordingContext(1).context()), {
    code: 'FST_SSE_STORE_ERROR',
    cause: { message: /did not answer within 300 ms/ }
  })
  t.ok(Date.now() - started < 2 * TIMEOUT, 'bounded by the timeout')
  proxy.restore()
})

test('an instance cut off for longer than the log keeps: its streams stay open and are replayed in band, exactly where their topics still hold what they missed', { skip }, async (t) => {
  const server = await RedisServer.start(t)
  const proxy = await TcpProxy.start(t, server.port)
  const keyPrefix = testPrefix(t, server.url)
  const options = { history: (topic: string) => topic === 'short' ? 2 : 100 }
  const routes = (app: TestApp['app']): void => {
    app.get('/t', (request, reply) => reply.sse({ topics: [(request.query as { topic: string }).topic] }))
  }
  const a = await listen(t, { ...options, store: redisStore({ url: server.url, keyPrefix, timeout: TIMEOUT, logLength: 4 }) }, routes)
  const b = await listen(t, { ...options, store: redisStore({ url: proxy.url, keyPrefix, timeout: TIMEOUT, logLength: 4 }) }, routes)
  const long = new RawSseClient(b.port, '/t?topic=long')
  const short = new RawSseClient(b.port, '/t?topic=short')
  t.teardown(() => { long.close(); short.close() })
  await long.until(() => long.items.length > 0, 'long primed')
  await short.until(() => short.items.length > 0, 'short primed')
  const before = (await a.app.sse.publish({ event: 'n', data: 0, topic: 'short' })).id
  await short.eventCount(1)

  proxy.cut()
  const onLong: string[] = []
  const onShort: string[] = []
  for (let n = 1; n <= 12; n++) {
    const topic = n % 3 === 0 ? 'short' : 'long'
    const { id } = await a.app.sse.publish({ event: 'n', data: n, topic })
    ;(topic === 'short' ? onShort : onLong).push(id)
  }
  proxy.restore()
  await long.eventCount(8)
  t.same(long.events.map((e) => [e.type, e.lastEventId]), onLong.map((id) => ['n', id]), 'long kept all 8 it missed: replayed exactly, no reset')
  await short.eventCount(4)
  t.same(short.events.map((e) => e.type), ['n', 'sse-reset', 'n', 'n'])
  t.same(JSON.parse(short.events[1].data), { lastEventId: before, reason: 'expired' }, 'short kept 2 of its 4: reset, naming the last id it was sent')
  t.same(short.events.slice(2).map((e) => e.lastEventId), onShort.slice(2))
  const { id: next } = await eventually(() => a.app.sse.publish({ event: 'n', data: 'next', topic: 'long' }), 'a')
  await long.eventCount(9)
  t.equal(long.events[8].lastEventId, next, 'and the live events go on')
  t.notOk(long.ended || short.ended, 'no stream ended')
})

test('an instance that fell behind still ends the streams of a topic disconnected in the gap, after the events before the disconnect', { skip }, async (t) => {
  // A disconnect is in the shared log and in its topic's list: a catch-up finds it.
  const server = await RedisServer.start(t)
  const proxy = await TcpProxy.start(t, server.port)
  const keyPrefix = testPrefix(t, server.url)
  const routes = (app: TestApp['app']): void => {
    app.get('/t', (request, reply) => reply.sse({ topics: (request.query as { topics: string }).topics.split(',') }))
  }
  const a = await listen(t, { store: redisStore({ url: server.url, keyPrefix, timeout: TIMEOUT, logLength: 4 }) }, routes)
  const b = await listen(t, { store: redisStore({ url: proxy.url, keyPrefix, timeout: TIMEOUT, logLength: 4 }) }, routes)
  const user = new RawSseClient(b.port, '/t?topics=user:1,broadcast')
  const other = new RawSseClient(b.port, '/t?topics=user:2')
  t.teardown(() => { user.close(); other.close() })
  await user.until(() => user.items.length > 0, 'primed')
  await other.until(() => other.items.length > 0, 'primed')

  proxy.cut()
  const before = (await a.app.sse.publish({ event: 'n', data: 'before logout', topic: 'user:1' })).id
  await a.app.sse.disconnect('user:1') // logout: every instance ends its streams on user:1
  await a.app.sse.publish({ event: 'n', data: 'after logout' })
  const kept: string[] = []
  for (let n = 0; n < 10; n++) kept.push((await a.app.sse.publish({ event: 'n', data: n, topic: 'user:2' })).id)
  proxy.restore()
  await user.responseEnd()
  t.same(user.events.map((e) => [e.lastEventId, e.data]), [[before, '"before logout"']], 'the event before the disconnect, then the end: nothing after it')
  await other.eventCount(10)
  t.same(other.events.map((e) => e.lastEventId), kept, 'a stream on another topic is replayed exactly and stays open')
  t.notOk(other.ended)
})

for (const history of [0, 100]) {
  test(`an instance that fell behind ends a stream whose topic was finished in the gap (history ${history})`, { skip }, async (t) => {
    const server = await RedisServer.start(t)
    const proxy = await TcpProxy.start(t, server.port)
    const keyPrefix = testPrefix(t, server.url)
    const routes = (app: TestApp['app']): void => {
      app.get('/t', (request, reply) => reply.sse({ topics: [(request.query as { topic: string }).topic] }))
    }
    const options = { history: (topic: string) => topic === 'answer' ? history : 100 }
    const a = await listen(t, { ...options, store: redisStore({ url: server.url, keyPrefix, timeout: TIMEOUT, logLength: 4 }) }, routes)
    const b = await listen(t, { ...options, store: redisStore({ url: proxy.url, keyPrefix, timeout: TIMEOUT, logLength: 4 }) }, routes)
    const answer = new RawSseClient(b.port, '/t?topic=answer')
    t.teardown(() => answer.close())
    await answer.until(() => answer.items.length > 0, 'primed')

    proxy.cut()
    await a.app.sse.publish({ event: 'n', data: 1, topic: 'answer' })
    const final = (await a.app.sse.publish({ event: 'n', data: 2, topic: 'answer', last: true })).id
    for (let n = 0; n < 10; n++) await a.app.sse.publish({ event: 'n', data: n, topic: 'other' })
    proxy.restore()
    await answer.responseEnd()
    if (history === 0) t.same(answer.events.map((e) => e.type), ['sse-reset'], 'nothing kept: a reset, then the end')
    else t.equal(answer.events.at(-1)?.lastEventId, final, 'up to the final event, then the end')
  })
}
