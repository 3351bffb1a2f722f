// A stream's topics are bounded (MAX_STREAM_TOPICS), and up to that bound every store serves
// and replays the stream exactly.
import { test, type Test } from 'tap'
import { MAX_STREAM_TOPICS, type SsePluginOptions } from '../lib/index'
import { redisStore } from '../lib/redis'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { REDIS_URL, redisSkip, testPrefix } from './helpers/redis'

const topicsOf = (count: number): string[] => Array.from({ length: count }, (_, i) => `t:${i}`)

async function replaysEveryTopic (t: Test, options: () => SsePluginOptions): Promise<void> {
  const { app, port } = await listen(t, options(), (app) => {
    app.get('/many', (_request, reply) => reply.sse({ topics: topicsOf(MAX_STREAM_TOPICS) }))
    app.get('/too-many', (_request, reply) => reply.sse({ topics: topicsOf(MAX_STREAM_TOPICS + 1) }))
  })
  const first = new RawSseClient(port, '/many')
  await first.until(() => first.parser.lastEventId !== '', 'the priming id')
  first.close()
  await first.closed()

  const missed: string[] = []
  for (const topic of ['t:0', 'broadcast', `t:${MAX_STREAM_TOPICS - 1}`, 't:500', 'elsewhere']) {
    const { id } = await app.sse.publish({ event: 'e', data: topic, topic })
    if (topic.startsWith('t:')) missed.push(id)
  }
  const again = new RawSseClient(port, '/many', { 'last-event-id': first.parser.lastEventId })
  t.teardown(() => again.close())
  await again.eventCount(3)
  t.same(again.events.map((e) => e.lastEventId), missed, 'exactly the missed events of its 1,000 topics, in publish order')
  t.equal(again.events.some((e) => e.type === 'sse-reset'), false)
  const { id } = await app.sse.publish({ event: 'e', data: 'live', topic: 't:42' })
  await again.eventCount(4)
  t.equal(again.events[3].lastEventId, id)

  const refused = await fetch(`http://127.0.0.1:${port}/too-many`)
  t.equal(refused.status, 500)
  const body = await refused.json() as { code: string, message: string }
  t.equal(body.code, 'FST_SSE_INVALID_FIELD')
  t.match(body.message, `at most ${MAX_STREAM_TOPICS} topics`)
  t.equal(app.sse.stats().connections, 1)
}

test('the memory store replays a stream on the most topics allowed; one more is refused', async (t) => {
  t.equal(MAX_STREAM_TOPICS, 1000, 'the documented limit')
  await replaysEveryTopic(t, () => ({}))
})

test('the Redis store replays a stream on the most topics allowed; one more is refused', { skip: redisSkip }, async (t) => {
  await replaysEveryTopic(t, () => ({ store: redisStore({ url: REDIS_URL, keyPrefix: testPrefix(t) }) }))
})
