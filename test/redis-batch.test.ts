// Issue 13.3: the appends and disconnects of one turn reach Redis as one script call. Each test
// checks what a batch must keep of one-at-a-time publishing: order, finished topics, history
// limits, per-publish errors, and nothing half-written.
import { test } from 'tap'
import { redisStore } from '../lib/redis'
import { redisKeys } from '../lib/store/redis-keys'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { adminClient, REDIS_URL, redisSkip, testPrefix } from './helpers/redis'

const skip = redisSkip

/** The Redis key of a topic's list (its history). */
function listKey (keyPrefix: string, topic: string): string {
  return redisKeys(keyPrefix).history + topic
}

test('the publishes of one turn: consecutive ids in call order, delivered in order on every instance', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const a = await listen(t, { store: redisStore({ url: REDIS_URL, keyPrefix }) })
  const b = await listen(t, { store: redisStore({ url: REDIS_URL, keyPrefix }) })
  const client = new RawSseClient(b.port, '/events')
  t.teardown(() => client.close())
  await client.until(() => client.items.length > 0, 'the priming frame')
  const ids = (await Promise.all(Array.from({ length: 2500 }, (_, i) => a.app.sse.publish({ event: 'n', data: i })))).map((r) => r.id)
  const seqs = ids.map((id) => Number(id.slice(id.lastIndexOf('-') + 1)))
  t.same(seqs, seqs.map((_, i) => seqs[0] + i), '2,500 publishes (three batches) numbered in call order')
  await client.eventCount(2500)
  t.same(client.events.map((e) => e.lastEventId), ids, 'delivered in that order, each once')
  t.same(client.events.map((e) => Number(e.data)), Array.from({ length: 2500 }, (_, i) => i))
})

test('a batch larger than 1 MiB of data is split, in order', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const { app, port } = await listen(t, { store: redisStore({ url: REDIS_URL, keyPrefix }) })
  const client = new RawSseClient(port, '/events')
  t.teardown(() => client.close())
  await client.until(() => client.items.length > 0, 'the priming frame')
  const big = 'x'.repeat(300 * 1024)
  const ids = (await Promise.all(Array.from({ length: 8 }, (_, i) => app.sse.publish({ event: 'n', text: `${i}${big}` })))).map((r) => r.id)
  await client.eventCount(8)
  t.same(client.events.map((e) => e.lastEventId), ids)
  t.same(client.events.map((e) => e.data[0]), ['0', '1', '2', '3', '4', '5', '6', '7'])
})

test('in one batch: an event after a final one is refused, a disconnect follows the events before it', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const { app, port } = await listen(t, { store: redisStore({ url: REDIS_URL, keyPrefix }) }, (app) => {
    app.get('/t', (request, reply) => reply.sse({ topics: [(request.query as { topic: string }).topic] }))
  })
  const onA = new RawSseClient(port, '/t?topic=a')
  const onB = new RawSseClient(port, '/t?topic=b')
  t.teardown(() => { onA.close(); onB.close() })
  await onA.until(() => onA.items.length > 0, 'a primed')
  await onB.until(() => onB.items.length > 0, 'b primed')
  const results = await Promise.allSettled([
    app.sse.publish({ event: 'n', data: 1, topic: 'a' }),
    app.sse.publish({ event: 'n', data: 2, topic: 'a', last: true }),
    app.sse.publish({ event: 'n', data: 3, topic: 'a' }),
    app.sse.publish({ event: 'n', data: 4, topic: 'b' }),
    app.sse.disconnect('b'),
    app.sse.publish({ event: 'n', data: 5, topic: 'b' })
  ])
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'])
  t.match((results[2] as PromiseRejectedResult).reason, { code: 'FST_SSE_TOPIC_FINISHED' })
  t.equal((results[4] as PromiseFulfilledResult<number>).value, 1, 'the disconnect ended the stream on b')
  await onA.responseEnd()
  await onB.responseEnd()
  t.same(onA.events.map((e) => e.data), ['1', '2'], 'a: up to its final event, then the end')
  t.same(onB.events.map((e) => e.data), ['4'], 'b: the event before the disconnect, not the one after')
})

test('a batch keeps each topic\'s history limit: a resume point pushed out in the same batch is expired', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const { app, port } = await listen(t, { history: 3, store: redisStore({ url: REDIS_URL, keyPrefix }) })
  const ids = (await Promise.all(Array.from({ length: 10 }, (_, i) => app.sse.publish({ event: 'n', data: i })))).map((r) => r.id)
  const exact = new RawSseClient(port, '/events', { 'Last-Event-ID': ids[6] })
  const late = new RawSseClient(port, '/events', { 'Last-Event-ID': ids[5] })
  t.teardown(() => { exact.close(); late.close() })
  await exact.eventCount(3)
  t.same(exact.events.map((e) => e.lastEventId), ids.slice(7), 'the three kept: an exact replay')
  await late.eventCount(4)
  t.same(late.events.map((e) => e.type), ['sse-reset', 'n', 'n', 'n'])
  t.same(JSON.parse(late.events[0].data), { lastEventId: ids[5], reason: 'expired' })
  t.equal(late.events[0].lastEventId, ids[6], 'resumes right after the last event pushed out')
})

test('Redis refuses one topic of a batch (its key holds another type): only that publish fails, nothing of it is written', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const admin = await adminClient(t, REDIS_URL)
  await admin.set(listKey(keyPrefix, 'broken'), 'not a list')
  const { app, port } = await listen(t, { store: redisStore({ url: REDIS_URL, keyPrefix }) })
  const client = new RawSseClient(port, '/events')
  t.teardown(() => client.close())
  await client.until(() => client.items.length > 0, 'the priming frame')
  const results = await Promise.allSettled([
    app.sse.publish({ event: 'n', data: 1 }),
    app.sse.publish({ event: 'n', data: 2, topic: 'broken' }),
    app.sse.publish({ event: 'n', data: 3 })
  ])
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'])
  t.match((results[1] as PromiseRejectedResult).reason, { code: 'FST_SSE_STORE_ERROR', cause: { message: /WRONGTYPE/ } })
  await client.eventCount(2)
  t.same(client.events.map((e) => e.data), ['1', '3'])
  t.equal(await admin.get(listKey(keyPrefix, 'broken')), 'not a list', 'the foreign key is untouched')
  t.equal(await admin.xlen(redisKeys(keyPrefix).log), 2, 'the log holds the two events, nothing of the refused one')
})
