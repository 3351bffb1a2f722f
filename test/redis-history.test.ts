// Bounded history in the Redis store (issue 12): each topic is one small list that expires
// historyMaxAge after its newest event, nothing is kept per topic ever seen, events older than
// historyMaxAge are not replayed, and a forgotten topic resets (`expired`), never a silent gap.
import { test, type Test } from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { redisStore } from '../lib/redis'
import type { SseStore } from '../lib/store/types'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { adminClient, eventually, REDIS_URL, redisSkip, testPrefix } from './helpers/redis'
import { RecordingContext } from './helpers/redis-context'

const skip = redisSkip

/** A store opened directly with `historyMaxAge` and `history`, closed in teardown. */
async function openStore (t: Test, keyPrefix: string, historyMaxAge: number, history: number | ((topic: string) => number) = 100): Promise<SseStore> {
  const store = redisStore({ url: REDIS_URL, keyPrefix })
  const recorder = new RecordingContext(0)
  await store.open({ ...recorder.context(), historyMaxAge, history: typeof history === 'number' ? () => history : history })
  t.teardown(() => store.close())
  return store
}

async function gone (admin: Redis, key: string): Promise<void> {
  await eventually(async () => { if (await admin.exists(key) === 1) throw new Error('still there') }, `${key} to expire`)
}

/** Every key under `prefix`. */
async function scan (admin: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, found] = await admin.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000)
    keys.push(...found)
    cursor = next
  } while (cursor !== '0')
  return keys.sort()
}

test('a topic is one key with a TTL of historyMaxAge, refreshed by every append', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const admin = await adminClient(t)
  const store = await openStore(t, keyPrefix, 60_000)
  await store.append('x', 'n', '1')
  const key = `{${keyPrefix}}:history:x`
  const first = await admin.pttl(key)
  t.ok(first > 59_000 && first <= 60_000, `PTTL ${first}`)
  await admin.pexpire(key, 30_000)
  await store.append('x', 'n', '2')
  const refreshed = await admin.pttl(key)
  t.ok(refreshed > 59_000, `refreshed to ${refreshed}`)
  t.equal(await admin.type(key), 'list')
})

test('history lowered to 0 for a topic that holds events (a redeploy): appends go on, the events count as dropped', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const before = await openStore(t, keyPrefix, 60_000, 5)
  const first = await before.append('x', 'n', '1')
  await before.append('x', 'n', '2')
  const after = await openStore(t, keyPrefix, 60_000, 0)
  const third = await after.append('x', 'n', '3')
  t.equal(third.seq, first.seq + 2)
  const replay = await after.replay(['x'], { lastEventId: first.id })
  t.equal(replay.reset?.reason, 'expired', 'the events it held are gone')
  t.same(replay.events, [])
})

test('a sparse topic costs at most 500 bytes of Redis memory', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const admin = await adminClient(t)
  const store = await openStore(t, keyPrefix, 3_600_000)
  for (const count of [1, 3]) {
    for (let i = 0; i < count; i++) await store.append(`user:${count}`, 'user-count', JSON.stringify({ count: i }))
    const usage = await admin.memory('USAGE', `{${keyPrefix}}:history:user:${count}`) as number
    t.ok(usage <= 500, `${count} event(s): ${usage} bytes`)
  }
})

test('after many topics, no key without a TTL but the three shared ones; history 0 leaves nothing without one either', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const admin = await adminClient(t)
  const store = await openStore(t, keyPrefix, 60_000, (topic) => topic.startsWith('none:') ? 0 : 3)
  for (let i = 0; i < 200; i++) await store.append(`${i % 2 === 0 ? 'none' : 'some'}:${i}`, 'n', String(i))
  await store.append('some:1', 'done', '1', true)
  await store.append('none:0', 'done', '1', true)
  await store.disconnect('some:3')
  const keys = await scan(admin, keyPrefix)
  const withoutTtl: string[] = []
  for (const key of keys) if (await admin.pttl(key) < 0) withoutTtl.push(key)
  t.same(withoutTtl, [`{${keyPrefix}}:checkpoints`, `{${keyPrefix}}:log`, `{${keyPrefix}}:meta`])
  t.equal(keys.length, 203, 'one key per topic')
  t.equal(await admin.llen(`{${keyPrefix}}:history:none:2`), 1, 'history 0: the header alone')
  t.ok(await admin.zcard(`{${keyPrefix}}:checkpoints`) <= 9)
})

test('a forgotten topic: a reconnect that missed events on it gets sse-reset expired, one that missed none resumes', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const admin = await adminClient(t)
  const { app, port } = await listen(t, { historyMaxAge: 300, store: redisStore({ url: REDIS_URL, keyPrefix }) }, (app) => {
    app.get('/events', (_request, reply) => { reply.sse({ topics: ['x'] }) })
  })
  const { id: seen } = await app.sse.publish({ event: 'n', data: 1, topic: 'x' })
  const { id: missed } = await app.sse.publish({ event: 'n', data: 2, topic: 'x' })
  await gone(admin, `{${keyPrefix}}:history:x`)

  const reset = new RawSseClient(port, '/events', { 'Last-Event-ID': seen })
  t.teardown(() => reset.close())
  await reset.eventCount(1)
  t.same(JSON.parse(reset.events[0].data), { lastEventId: seen, reason: 'expired' })
  t.equal(reset.parser.lastEventId, missed, 'resumes after everything that may have been forgotten')

  const resumes = new RawSseClient(port, '/events', { 'Last-Event-ID': missed })
  t.teardown(() => resumes.close())
  await resumes.opened()
  const { id: live } = await app.sse.publish({ event: 'n', data: 3, topic: 'x' })
  await resumes.eventCount(1)
  t.same(resumes.events.map((e) => e.lastEventId), [live], 'it had every event: no reset')

  // The topic's new key remembers what its forgotten one may have held.
  const again = new RawSseClient(port, '/events', { 'Last-Event-ID': seen })
  t.teardown(() => again.close())
  await again.eventCount(2)
  t.same(JSON.parse(again.events[0].data), { lastEventId: seen, reason: 'expired' })
  t.same(again.events.slice(1).map((e) => e.lastEventId), [live])
})

test('events older than historyMaxAge are neither replayed nor backfilled, and count as missed', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const store = await openStore(t, keyPrefix, 1000)
  const before = store.newestId()
  const old = await store.append('x', 'n', 'old')
  const oldAt = Date.now()
  await delay(700)
  const fresh = await store.append('x', 'n', 'fresh')
  const freshAt = Date.now()
  await delay(Math.max(0, oldAt + 1050 - Date.now()))
  // The list still holds both: the age is checked when the replay reads it.
  const backfill = await store.replay(['x'], { backfill: Infinity })
  t.ok(Date.now() - freshAt < 1000, 'the fresh event is still within historyMaxAge')
  t.same(backfill.events.map((e) => e.data), ['fresh'])
  t.same((await store.replay(['x'], { backfill: 5 })).events.map((e) => e.data), ['fresh'])

  const missedOld = await store.replay(['x'], { lastEventId: before })
  t.same(missedOld.reset, { reason: 'expired', id: old.id })
  t.same(missedOld.events.map((e) => e.id), [fresh.id])
  const hadOld = await store.replay(['x'], { lastEventId: old.id })
  t.equal(hadOld.reset, undefined, 'a client that has the aged event resumes')
  t.same(hadOld.events.map((e) => e.id), [fresh.id])

  // An append pushes aged events out of the list.
  await store.append('x', 'n', 'newer')
  await delay(Math.max(0, freshAt + 1050 - Date.now()))
  const trimmed = await store.replay(['x'], { lastEventId: before })
  t.same(trimmed.reset, { reason: 'expired', id: fresh.id })
  t.same(trimmed.events.map((e) => e.data), ['newer'])
})

test('finished marks follow historyMaxAge; with historyMaxAge 0 they, and every topic, are kept for good', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const admin = await adminClient(t)
  const store = await openStore(t, keyPrefix, 300, 0)
  await store.append('answer', 't', 'end', true)
  await t.rejects(store.append('answer', 't', 'more'), { code: 'FST_SSE_TOPIC_FINISHED' })
  const ttl = await admin.pttl(`{${keyPrefix}}:history:answer`)
  t.ok(ttl > 0 && ttl <= 300, `PTTL ${ttl}`)
  await gone(admin, `{${keyPrefix}}:history:answer`)
  t.match(await store.append('answer', 't', 'again'), { data: 'again' }, 'forgotten after historyMaxAge: a new topic')

  const forever = testPrefix(t)
  const kept = await openStore(t, forever, 0)
  await kept.append('a', 't', 'one')
  await kept.append('answer', 't', 'end', true)
  t.equal(await admin.pttl(`{${forever}}:history:answer`), -1)
  t.equal(await admin.pttl(`{${forever}}:history:a`), -1)
  t.equal(await admin.exists(`{${forever}}:checkpoints`), 0, 'no age limit: no checkpoints')
  await t.rejects(kept.append('answer', 't', 'more'), { code: 'FST_SSE_TOPIC_FINISHED' })
  // A topic never published has nothing to miss.
  t.same(await kept.replay(['other'], { lastEventId: kept.newestId().replace(/-\d+$/, '-0') }), { events: [], after: 0 })
})

test('a topic list of an older history is replaced, not read', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const admin = await adminClient(t)
  const store = await openStore(t, keyPrefix, 60_000)
  await admin.rpush(`{${keyPrefix}}:history:x`, '1,5,0', '3,1,0,n\nold')
  await admin.rpush(`{${keyPrefix}}:history:y`, 'not a header')
  t.same((await store.replay(['x', 'y'], { backfill: Infinity })).events, [], 'not replayed')
  const { id } = await store.append('x', 'n', 'new')
  await store.append('y', 'n', 'new')
  t.same((await store.replay(['x'], { backfill: Infinity })).events.map((e) => e.id), [id])
  t.equal(await admin.llen(`{${keyPrefix}}:history:x`), 2)
})
