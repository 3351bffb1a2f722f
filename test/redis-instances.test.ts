// Several app instances in separate processes sharing the Redis on 127.0.0.1:6379, as behind a
// load balancer without sticky sessions: clients connect to any instance and reconnect to
// another one.
import { test } from 'tap'
import { RawSseClient } from './helpers/raw-client'
import { REDIS_URL, redisSkip, testPrefix } from './helpers/redis'
import { forkInstance, type Instance } from './helpers/redis-instances'

const skip = redisSkip

function connect (t: { teardown: (fn: () => void) => void }, on: Instance, topics: string, lastEventId?: string): RawSseClient {
  const client = new RawSseClient(on.port, `/events?topics=${topics}`, lastEventId === undefined ? {} : { 'Last-Event-ID': lastEventId })
  t.teardown(() => client.close())
  return client
}

test('three processes: every event reaches every stream once, with one id; a client resumes exactly on another process', { skip }, async (t) => {
  const keyPrefix = testPrefix(t)
  const instances = await Promise.all([0, 1, 2].map(() => forkInstance(t, { url: REDIS_URL, keyPrefix })))

  // One stream per process on a, b and the default topic; one on a only.
  const everything = instances.map((on) => connect(t, on, 'a,b,broadcast'))
  const onlyA = connect(t, instances[1], 'a')
  for (const client of [...everything, onlyA]) await client.until(() => client.items.some((i) => i.kind === 'id-only'), 'the priming frame')
  t.equal(new Set(everything.map((c) => c.parser.lastEventId)).size, 1, 'every process primes with the same newest id')

  const published: Array<{ id: string, topic: string }> = []
  for (let n = 0; n < 30; n++) {
    const topic = ['a', 'b', 'broadcast'][n % 3]
    const { id, code } = await instances[n % 3].publish({ event: 'n', data: n, topic })
    t.equal(code, undefined)
    published.push({ id: id as string, topic })
  }
  for (const client of everything) await client.eventCount(30)
  await onlyA.eventCount(10)
  for (const client of everything) t.same(client.events.map((e) => e.lastEventId), published.map((p) => p.id), 'same ids, publish order')
  t.same(onlyA.events.map((e) => e.lastEventId), published.filter((p) => p.topic === 'a').map((p) => p.id))

  // The client on process 0 drops after the 12th event and comes back to process 2.
  const lastSeen = published[11].id
  const missed: string[] = []
  for (let n = 30; n < 40; n++) {
    const topic = ['a', 'b', 'c'][n % 3]
    const { id } = await instances[n % 2].publish({ event: 'n', data: n, topic })
    if (topic !== 'c') missed.push(id as string)
  }
  const resumed = connect(t, instances[2], 'a,b,broadcast', lastSeen)
  const expected = [...published.slice(12).map((p) => p.id), ...missed]
  await resumed.eventCount(expected.length)
  t.same(resumed.events.map((e) => e.lastEventId), expected, 'exactly the missed events, across topics, in publish order')
  t.notOk(resumed.events.some((e) => e.type === 'sse-reset'))

  const { id: live } = await instances[1].publish({ event: 'n', data: 'live', topic: 'b' })
  await resumed.eventCount(expected.length + 1)
  t.equal(resumed.events.at(-1)?.lastEventId, live, 'then live events')
})
