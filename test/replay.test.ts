import { test, type Test } from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { EventSource } from 'undici'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import type { SseStream } from '../lib/index'

function open (t: Test, port: number, path: string, headers: Record<string, string> = {}): RawSseClient {
  const client = new RawSseClient(port, path, headers)
  t.teardown(() => client.close())
  return client
}

async function appWithTopics (t: Test, options = {}) {
  return listen(t, options, (app) => {
    app.get('/events', (request, reply) => {
      const topics = (request.query as { topics?: string }).topics
      return reply.sse(topics === undefined ? undefined : { topics: topics.split(',') })
    })
  })
}

test('Last-Event-ID header: exactly the missed events of the stream\'s topics, in publish order, then live', async (t) => {
  const { app, port } = await appWithTopics(t)
  const first = await app.sse.publish({ event: 'e', data: 'a1', topic: 'a' })
  await app.sse.publish({ event: 'e', data: 'a2', topic: 'a' })
  await app.sse.publish({ event: 'e', data: 'c1', topic: 'c' })
  await app.sse.publish({ event: 'e', data: 'b1', topic: 'b' })
  await app.sse.publish({ event: 'e', data: 'a3', topic: 'a' })
  const client = open(t, port, '/events?topics=a,b', { 'Last-Event-ID': first.id })
  await client.eventCount(3)
  await app.sse.publish({ event: 'e', data: 'b2', topic: 'b' })
  await client.eventCount(4)
  t.same(client.events.map((e) => JSON.parse(e.data)), ['a2', 'b1', 'a3', 'b2'])
  t.notMatch(client.body, /sse-reset/)
  t.notMatch(client.body, /^id: [^\n]+\n\n/m, 'no priming frame on a resume')
})

test('lastEventId query parameter for clients that cannot set headers; the header wins', async (t) => {
  const { app, port } = await appWithTopics(t, { retry: 750 })
  const one = await app.sse.publish({ event: 'e', data: 1 })
  const two = await app.sse.publish({ event: 'e', data: 2 })
  await app.sse.publish({ event: 'e', data: 3 })
  const byQuery = open(t, port, `/events?lastEventId=${encodeURIComponent(one.id)}`)
  await byQuery.eventCount(2)
  t.same(byQuery.events.map((e) => e.data), ['2', '3'])
  t.ok(byQuery.body.startsWith('retry: 750\n\nid: '), 'a resumed stream gets retry, then its events')
  const both = open(t, port, `/events?lastEventId=${encodeURIComponent(one.id)}`, { 'Last-Event-ID': two.id })
  await both.eventCount(1)
  t.same(both.events.map((e) => e.data), ['3'])
})

test('unknown ids (garbage, or from before a restart) get sse-reset, then what is retained', async (t) => {
  const before = await appWithTopics(t)
  const old = await before.app.sse.publish({ event: 'e', data: 'old' })
  const { app, port } = await appWithTopics(t)
  const kept = await app.sse.publish({ event: 'e', data: 'kept' })
  for (const id of [old.id, 'garbage', `${kept.id.split('-')[0]}-99`]) {
    const client = open(t, port, '/events', { 'Last-Event-ID': id })
    await client.eventCount(2)
    const [reset, event] = client.events
    t.equal(reset.type, 'sse-reset')
    t.same(JSON.parse(reset.data), { lastEventId: id, reason: 'unknown' })
    t.match(reset.lastEventId, /-0$/, 'the reset id marks the start: every topic is complete from there')
    t.same([event.data, event.lastEventId], ['"kept"', kept.id])
  }
})

test('expired: a missed event is gone; the reset id resumes exactly without a second reset', async (t) => {
  const { app, port } = await appWithTopics(t, { history: 2 })
  const ids: string[] = []
  for (let i = 1; i <= 5; i++) ids.push((await app.sse.publish({ event: 'e', data: i })).id)
  const client = open(t, port, '/events', { 'Last-Event-ID': ids[0] })
  await client.eventCount(3)
  const [reset, ...rest] = client.events
  t.equal(reset.type, 'sse-reset')
  t.same(JSON.parse(reset.data), { lastEventId: ids[0], reason: 'expired' })
  t.equal(reset.lastEventId, ids[2], 'the reset id is the newest dropped event: no id runs ahead')
  t.same(rest.map((e) => e.data), ['4', '5'])
  const again = open(t, port, '/events', { 'Last-Event-ID': reset.lastEventId })
  await again.eventCount(2)
  t.same(again.events.map((e) => e.data), ['4', '5'])
  t.notMatch(again.body, /sse-reset/)
})

test('expired across topics: replay starts where every topic is complete', async (t) => {
  const { app, port } = await appWithTopics(t, { history: 1 })
  const start = await app.sse.publish({ event: 'e', data: 'a1', topic: 'a' })
  const b1 = await app.sse.publish({ event: 'e', data: 'b1', topic: 'b' })
  await app.sse.publish({ event: 'e', data: 'b2', topic: 'b' })
  await app.sse.publish({ event: 'e', data: 'a2', topic: 'a' })
  const client = open(t, port, '/events?topics=a,b', { 'Last-Event-ID': start.id })
  await client.eventCount(3)
  // a1 dropped (seq 1) and b1 dropped (seq 2): both topics are complete after seq 2.
  t.same(client.events.map((e) => e.data), ['{"lastEventId":"' + start.id + '","reason":"expired"}', '"b2"', '"a2"'])
  t.equal(client.events[0].lastEventId, b1.id, 'the reset id is the newest dropped event of any topic')
})

test('history 0: nothing is replayed; a client that missed nothing is not reset', async (t) => {
  const { app, port } = await appWithTopics(t, { history: 0 })
  const idle = open(t, port, '/events')
  await idle.until(() => idle.parser.lastEventId !== '', 'the priming frame')
  const upToDate = open(t, port, '/events', { 'Last-Event-ID': idle.parser.lastEventId })
  await upToDate.opened()
  const first = await app.sse.publish({ event: 'e', data: 1 })
  await app.sse.publish({ event: 'e', data: 2 })
  await upToDate.eventCount(2)
  t.notMatch(upToDate.body, /sse-reset/)
  const missed = open(t, port, '/events', { 'Last-Event-ID': first.id })
  await missed.eventCount(1)
  t.equal(missed.events[0].type, 'sse-reset')
  t.match(missed.events[0].data, /"expired"/)
})

test('a replay and the handler\'s own sends: the reset comes first', async (t) => {
  const { port } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => {
      reply.sse().send({ event: 'welcome', data: 'hi' })
    })
  })
  const client = open(t, port, '/events', { 'Last-Event-ID': 'garbage' })
  await client.eventCount(2)
  t.same(client.events.map((e) => e.type), ['sse-reset', 'welcome'])
})

test('no loss and no duplicate while publishes race reconnects', async (t) => {
  const { app, port } = await appWithTopics(t, { history: 100_000 })
  const published: string[] = []
  const state = { publishing: true }
  const publisher = (async () => {
    let n = 0
    while (state.publishing) {
      const topic = n % 3 === 0 ? 'b' : 'a'
      published.push((await app.sse.publish({ event: 'e', data: { n: n++ }, topic })).id)
      if (n % 7 === 0) await nextTurn()
    }
  })()

  const seen: string[] = []
  let lastId: string | undefined
  let primedAt = ''
  for (let round = 0; round < 30; round++) {
    const client = open(t, port, '/events?topics=a,b', lastId === undefined ? {} : { 'Last-Event-ID': lastId })
    if (round === 0) {
      await client.until(() => client.items.length > 0, 'the priming frame')
      primedAt = client.items[0].id as string
    }
    const target = published.length + 20
    await client.until(() => client.parser.lastEventId !== '' && published.indexOf(client.parser.lastEventId) >= target - 1, `round ${round}`)
    t.notMatch(client.body, /sse-reset/, `round ${round} needed no reset`)
    seen.push(...client.events.map((e) => e.lastEventId))
    lastId = client.parser.lastEventId
    client.close()
  }
  state.publishing = false
  await publisher
  const expected = published.slice(published.indexOf(primedAt) + 1, published.indexOf(lastId as string) + 1)
  t.ok(expected.length > 600, `${expected.length} events crossed 30 reconnects`)
  t.equal(new Set(seen).size, seen.length, 'no event twice')
  t.same(seen, expected, `every one of ${expected.length} events, in publish order`)
})

test('undici EventSource reconnects by itself with Last-Event-ID and misses nothing', async (t) => {
  const streams: SseStream[] = []
  const { app, url } = await listen(t, { retry: 20 }, (app) => {
    app.get('/events', (_request, reply) => { streams.push(reply.sse()) })
  })
  const source = new EventSource(`${url}/events`)
  t.teardown(() => source.close())
  const received: string[] = []
  let opens = 0
  source.onopen = () => { opens++ }
  let wake = () => {}
  source.addEventListener('tick', (event) => { received.push((event as MessageEvent).data); wake() })
  const waitFor = (n: number) => new Promise<void>((resolve) => {
    wake = () => { if (received.length >= n) resolve() }
    wake()
  })
  await new Promise((resolve) => { source.onopen = () => { opens++; resolve(undefined) } })
  await app.sse.publish({ event: 'tick', data: 1 })
  await waitFor(1)
  streams[0].close()
  await streams[0].closed
  await app.sse.publish({ event: 'tick', data: 2 })
  await app.sse.publish({ event: 'tick', data: 3 })
  await waitFor(3)
  t.same(received, ['1', '2', '3'])
  t.equal(streams.length, 2, 'one reconnect')
  t.ok(streams[1].lastEventId, 'the reconnect carried Last-Event-ID')
  t.equal(opens, 2)
})
