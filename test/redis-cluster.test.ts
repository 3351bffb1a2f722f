// The Redis store on a Redis Cluster: three masters, no replicas, started once for this file on
// spare loopback ports. Two app instances, each with its own ioredis `Cluster` client, share one
// history; every key of a store is in one hash slot; a url to a Cluster node is refused.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { Cluster, type Redis } from 'ioredis'
import { EventSource } from 'undici'
import { redisStore } from '../lib/redis'
import { redisKeys } from '../lib/store/redis-keys'
import { listen, type TestApp } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { eventually, redisClusterSkip } from './helpers/redis'
import { RedisCluster } from './helpers/redis-cluster'
import { RecordingContext } from './helpers/redis-context'
import { TcpProxy } from './helpers/redis-server'

const skip = redisClusterSkip
const TIMEOUT = 300

let starting: Promise<RedisCluster> | undefined
/** The file's one cluster, started by the first test that needs it and stopped after the last. */
function cluster (): Promise<RedisCluster> {
  starting ??= RedisCluster.start(t)
  return starting
}

/** A prefix of the test's own; the cluster is private and goes away with the file. */
function newPrefix (): string {
  return `sse-test-${randomBytes(6).toString('hex')}`
}

function topicRoutes (app: FastifyInstance): void {
  app.get('/events', (request, reply) => {
    const { topics } = request.query as { topics?: string }
    reply.sse(topics === undefined ? undefined : { topics: topics.split(',') })
  })
}

async function instance (t: Test, keyPrefix: string, timeout = TIMEOUT): Promise<TestApp> {
  const client = (await cluster()).client(t)
  return listen(t, { history: 100, store: redisStore({ client, keyPrefix, timeout }) }, topicRoutes)
}

/** Calls per command on one server (`INFO commandstats`), e.g. `{ evalsha: 12, 'script|load': 5 }`. */
async function commandCalls (admin: Redis): Promise<Record<string, number>> {
  const calls: Record<string, number> = {}
  for (const [, name, count] of (await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[name] = Number(count)
  return calls
}

async function primed (t: Test, port: number, path = '/events'): Promise<RawSseClient> {
  const client = new RawSseClient(port, path)
  t.teardown(() => client.close())
  await client.until(() => client.items.some((i) => i.kind === 'id-only'), 'the priming frame')
  return client
}

t.test('an event published on one instance reaches an EventSource on the other; a client resumes on the other instance', { skip }, async (t) => {
  const keyPrefix = newPrefix()
  const a = await instance(t, keyPrefix)
  const b = await instance(t, keyPrefix)

  const source = new EventSource(`${b.url}/events?topics=chat`)
  t.teardown(() => source.close())
  const received = new Promise<MessageEvent>((resolve) => source.addEventListener('msg', (event) => resolve(event as MessageEvent), { once: true }))
  await new Promise((resolve) => source.addEventListener('open', resolve, { once: true }))
  const first = await a.app.sse.publish({ event: 'msg', data: 'hello', topic: 'chat' })
  const hello = await received
  t.equal(hello.data, '"hello"')
  t.equal(hello.lastEventId, first.id, 'the same id on both instances')

  // Missed while away, on several topics (one with braces: it must not move the keys' slot).
  const missed: string[] = []
  for (const [n, topic] of ['chat', '{chat}', 'other', 'chat'].entries()) missed.push((await (n % 2 === 0 ? b : a).app.sse.publish({ event: 'msg', data: n, topic })).id)
  const resumed = new RawSseClient(a.port, '/events?topics=chat,{chat}', { 'Last-Event-ID': first.id })
  t.teardown(() => resumed.close())
  await resumed.eventCount(3)
  t.same(resumed.events.map((e) => e.lastEventId), [missed[0], missed[1], missed[3]], 'exactly the missed events of its topics, in publish order')
  const live = await b.app.sse.publish({ event: 'msg', data: 'live', topic: '{chat}' })
  await resumed.eventCount(4)
  t.equal(resumed.events[3].lastEventId, live.id, 'then live events')
})

t.test('a topic finished on one instance answers 204 on the other', { skip }, async (t) => {
  const keyPrefix = newPrefix()
  const a = await instance(t, keyPrefix)
  const b = await instance(t, keyPrefix)
  const onB = await primed(t, b.port, '/events?topics=answer')
  await a.app.sse.publish({ event: 't', data: 'x', topic: 'answer' })
  const final = await a.app.sse.publish({ event: 't', data: 'y', topic: 'answer', last: true })
  await onB.responseEnd()
  t.same(onB.events.map((e) => e.data), ['"x"', '"y"'])
  await t.rejects(b.app.sse.publish({ event: 't', data: 'z', topic: 'answer' }), { code: 'FST_SSE_TOPIC_FINISHED' })
  for (const { url } of [a, b]) {
    t.equal((await fetch(`${url}/events?topics=answer`, { headers: { 'last-event-id': final.id } })).status, 204)
  }
})

t.test('every key of a store is in one hash slot, on one master, whatever the braces in its prefix and topics', { skip }, async (t) => {
  const running = await cluster()
  for (const keyPrefix of [newPrefix(), `${newPrefix()}{a}b`, `a}${newPrefix()}`, `{${newPrefix()}`]) {
    const app = await instance(t, keyPrefix)
    for (const topic of ['x', '{y}', 'z}', '{', 'w{v}']) await app.app.sse.publish({ event: 'n', data: 1, topic })
    const keys = redisKeys(keyPrefix)
    const owner = await running.ownerOf(keys.meta)
    const mine = (found: string[]): string[] => found.filter((key) => key.startsWith(`{${keyPrefix}}:`))
    t.same(mine(await owner.keys('*')).sort(), [keys.checkpoints, keys.history + 'w{v}', keys.history + 'x', keys.history + 'z}', keys.history + '{', keys.history + '{y}', keys.log, keys.meta].sort(), `${keyPrefix}: every key on the master of its slot`)
    const slots = new Set<number>()
    for (const key of mine(await owner.keys('*'))) slots.add(await owner.cluster('KEYSLOT', key) as number)
    t.equal(slots.size, 1, `${keyPrefix}: one slot`)
    for (const admin of running.admins.filter((admin) => admin !== owner)) t.same(mine(await admin.keys('*')), [], 'none on another master')
  }
})

t.test('a prefix starting with `}` would leave the hash tag empty, and Redis spread the keys: why the options refuse it', { skip }, async (t) => {
  const [admin] = (await cluster()).admins
  const keys = redisKeys('}x')
  t.not(await admin.cluster('KEYSLOT', keys.meta), await admin.cluster('KEYSLOT', keys.log))
})

t.test('the store never closes the Cluster client passed in; it closes the reader and the replays connection it derived from it', { skip }, async (t) => {
  const running = await cluster()
  const client = running.client(t)
  const keyPrefix = newPrefix()
  const { app, port } = await listen(t, { store: redisStore({ client, keyPrefix }) })
  const { id } = await app.sse.publish({ event: 'n', data: 1 })
  await app.sse.publish({ event: 'n', data: 2 })
  // A stream resuming from the first event: its replay runs on the replays connection.
  const stream = new RawSseClient(port, '/events', { 'last-event-id': id })
  t.teardown(() => stream.close())
  await stream.eventCount(1)
  t.equal(stream.events[0].data, '2', 'replayed')
  const named = async (role: string): Promise<number> => {
    let count = 0
    for (const admin of running.admins) count += ((await admin.client('LIST')) as string).split('\n').filter((line) => line.includes(`name=fastify-sse-hub:${keyPrefix}:${role} `)).length
    return count
  }
  t.ok(await named('reader') >= 1, 'a reader connection named after the store')
  t.ok(await named('replays') >= 1, 'a replays connection named after the store')
  stream.close()
  await app.close()
  t.equal(client.status, 'ready', 'the client passed in stays open')
  t.equal(await client.get('anything'), null, 'and usable')
  await eventually(async () => { if (await named('reader') + await named('replays') > 0) throw new Error('still open') }, 'the reader and the replays connection to close')
})

t.test('scripts flushed on the master of the store\'s slot (as on a promoted replica): loaded again on every master, once, nothing lost', { skip }, async (t) => {
  const running = await cluster()
  const keyPrefix = newPrefix()
  // A timeout long enough that no reader checks its history (another script) meanwhile.
  const a = await instance(t, keyPrefix, 10_000)
  const b = await instance(t, keyPrefix, 10_000)
  const onB = await primed(t, b.port)
  await a.app.sse.publish({ event: 'n', data: 0 })
  const owner = await running.ownerOf(redisKeys(keyPrefix).meta)
  await owner.script('FLUSH')
  const before = await Promise.all(running.admins.map(commandCalls))
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => a.app.sse.publish({ event: 'n', data: i + 1 })))
  const after = await Promise.all(running.admins.map(commandCalls))
  const loads = after.map((calls, i) => (calls['script|load'] ?? 0) - (before[i]['script|load'] ?? 0))
  t.same(loads, [1, 1, 1], 'the append script loaded once on each master, for the call that found it missing')
  const owned = running.admins.indexOf(owner)
  t.equal((after[owned].evalsha ?? 0) - (before[owned].evalsha ?? 0), 2, 'the 20 publishes of one turn, one call, ran again once, on the master of the slot')
  await onB.eventCount(21)
  t.same(onB.events.slice(1).map((e) => e.lastEventId).sort(), ids.map((r) => r.id).sort(), 'every event after the flush, once')
})

t.test('a reader whose node connection is killed resumes where it stopped', { skip }, async (t) => {
  const running = await cluster()
  const keyPrefix = newPrefix()
  const a = await instance(t, keyPrefix)
  const b = await instance(t, keyPrefix)
  const onB = await primed(t, b.port)
  await a.app.sse.publish({ event: 'n', data: 1 })
  await onB.eventCount(1)
  const owner = await running.ownerOf(redisKeys(keyPrefix).meta)
  // Every connection of both instances to that master: commands and readers.
  const killed = await owner.client('KILL', 'USER', 'default', 'SKIPME', 'yes') as number
  t.ok(killed >= 4, `${killed} connections killed`)
  const { id } = await a.app.sse.publish({ event: 'n', data: 2 })
  await onB.eventCount(2, 5000)
  t.equal(onB.events[1].lastEventId, id)
  t.notOk(onB.ended, 'the stream stayed open')
})

t.test('a reader whose Cluster connections go silent is replaced by the watchdog, then catches up', { skip }, async (t) => {
  const running = await cluster()
  const keyPrefix = newPrefix()
  const a = await instance(t, keyPrefix)
  // B reaches every node through a proxy (the NAT map points the addresses the cluster
  // announces at them), so that the test can silence B's connections alone.
  const proxies = await Promise.all(running.servers.map((server) => TcpProxy.start(t, server.port)))
  const natMap = Object.fromEntries(running.servers.map((server, i) => [`127.0.0.1:${server.port}`, { host: '127.0.0.1', port: proxies[i].port }]))
  const client = new Cluster(proxies.map((proxy) => ({ host: '127.0.0.1', port: proxy.port })), { natMap })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const b = await listen(t, { store: redisStore({ client, keyPrefix, timeout: TIMEOUT }) }, topicRoutes)
  const onB = await primed(t, b.port)
  const ids = [(await a.app.sse.publish({ event: 'n', data: 1 })).id]
  await onB.eventCount(1)
  const connections = (): number => proxies.reduce((sum, proxy) => sum + proxy.connections, 0)
  const before = connections()

  for (const proxy of proxies) proxy.freeze()
  const frozen = Date.now()
  // Nothing else of B's opens a connection by itself: a new one is the reader reconnecting.
  await eventually(async () => { if (connections() === before) throw new Error('no new connection') }, 'the watchdog to replace the reader')
  t.ok(Date.now() - frozen >= 900, `after the reader was silent for about timeout + 1 s (${Date.now() - frozen} ms)`)
  for (let n = 2; n <= 3; n++) ids.push((await a.app.sse.publish({ event: 'n', data: n })).id)

  for (const proxy of proxies) proxy.restore()
  await onB.eventCount(3, 10_000)
  t.same(onB.events.map((e) => e.lastEventId), ids, 'every event once, in order')
  t.notOk(onB.ended, 'the stream stayed open')
})

t.test('a url to a Cluster node is refused at boot, saying to pass a Cluster client', { skip }, async (t) => {
  const { servers } = await cluster()
  await t.rejects(redisStore({ url: servers[0].url }).open(new RecordingContext(1).context()), {
    code: 'FST_SSE_INVALID_OPTION',
    message: /"redisStore\.url" points at a Redis Cluster node \(redis:\/\/127\.0\.0\.1:\d+\).*pass an ioredis Cluster client as `client` instead, redisStore\(\{ client: new Redis\.Cluster\(\[/
  })
})
