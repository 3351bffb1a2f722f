// The hub against stores that answer late or fail: what a Redis-like store puts it through.
import { test, type Test } from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { MemoryStore } from '../lib/store/memory-store'
import { formatEventId, newEpoch, parseEventId, planBackfill, planReplay, type SseReplay, type SseReplayFrom, type SseStore, type SseStoreContext, type SseStoredEvent, type SseStream } from '../lib/index'

/** A memory store whose deliveries and replays are held until the test releases them. */
class ControlledStore implements SseStore {
  readonly inner = new MemoryStore()
  holdDeliveries = false
  held: SseStoredEvent[] = []
  replayGate: Promise<void> | undefined
  /** Fails the replays held by holdReplays(). */
  failHeld: (err: Error) => void = () => {}
  /** Resolves once a replay was asked for while replays are held. */
  replayAsked: Promise<void> = Promise.resolve()
  private asked = (): void => {}
  failAppend: unknown
  failNewestId = false
  failReplay: 'sync' | 'async' | undefined
  failDisconnect: unknown
  private context!: SseStoreContext

  open (context: SseStoreContext): Promise<void> {
    this.context = context
    return this.inner.open({ ...context, deliver: (event) => this.hold(event) })
  }

  append (topic: string, event: string, data: string): Promise<SseStoredEvent> {
    if (this.failAppend !== undefined) return Promise.reject(this.failAppend)
    return this.inner.append(topic, event, data)
  }

  newestId (): string {
    if (this.failNewestId) throw new Error('store down')
    return this.inner.newestId()
  }

  replay (topics: readonly string[], from: SseReplayFrom): SseReplay | Promise<SseReplay> {
    if (this.failReplay === 'sync') throw new Error('store down')
    if (this.failReplay === 'async') return Promise.reject(new Error('store down'))
    const answer = this.inner.replay(topics, from)
    this.asked()
    return this.replayGate === undefined ? answer : this.replayGate.then(() => answer)
  }

  disconnect (topic: string): Promise<void> {
    if (this.failDisconnect !== undefined) return Promise.reject(this.failDisconnect)
    return this.inner.disconnect(topic)
  }

  close (): Promise<void> {
    return this.inner.close()
  }

  /** Replays answer only once the returned function is called. */
  holdReplays (): () => void {
    let open = () => {}
    this.replayGate = new Promise((resolve, reject) => {
      open = resolve
      this.failHeld = reject
    })
    this.replayAsked = new Promise((resolve) => { this.asked = resolve })
    return open
  }

  /** What a shared store does when events will never reach this instance. */
  reset (reason: 'unknown' | 'expired', id: string): void {
    this.context.reset?.(reason, id)
  }

  /** The held events never reach this instance, as when it falls behind what a shared store keeps. */
  dropHeld (): void {
    this.holdDeliveries = false
    this.held = []
  }

  release (): void {
    this.holdDeliveries = false
    for (const event of this.held.splice(0)) this.context.deliver(event)
  }

  private hold (event: SseStoredEvent): void {
    if (this.holdDeliveries) this.held.push(event)
    else this.context.deliver(event)
  }
}

function client (t: Test, port: number, headers: Record<string, string> = {}): RawSseClient {
  const c = new RawSseClient(port, '/events', headers)
  t.teardown(() => c.close())
  return c
}

test('a slow replay: live events and sends wait behind it, none lost or repeated', async (t) => {
  const store = new ControlledStore()
  const { app, port } = await listen(t, { store }, (app) => {
    app.get('/events', (_request, reply) => { reply.sse().send({ event: 'hello', data: 'first after replay' }) })
  })
  const one = await app.sse.publish({ event: 'e', data: 1 })
  await app.sse.publish({ event: 'e', data: 2 })
  const open = store.holdReplays()
  const c = client(t, port, { 'Last-Event-ID': one.id })
  await store.replayAsked
  await app.sse.publish({ event: 'e', data: 3 })
  await nextTurn() // event 3 reaches the stream while its replay is still pending
  t.equal(c.events.length, 0, 'nothing before the replay')
  open()
  await c.eventCount(3)
  await app.sse.publish({ event: 'e', data: 4 })
  await c.eventCount(4)
  t.same(c.events.map((e) => `${e.type}:${e.data}`), ['e:2', 'hello:"first after replay"', 'e:3', 'e:4'])
})

/** An app on a ControlledStore with a 16 KiB backlog limit, its streams in `streams`, one event published. */
async function withBacklogLimit (t: Test): Promise<{ store: ControlledStore, streams: SseStream[], app: FastifyInstance, port: number, one: { id: string } }> {
  const store = new ControlledStore()
  const streams: SseStream[] = []
  const { app, port } = await listen(t, { store, maxBufferedBytes: 16 * 1024 }, (app) => {
    app.get('/events', (_request, reply) => { streams.push(reply.sse()) })
  })
  const one = await app.sse.publish({ event: 'e', data: 0 })
  return { store, streams, app, port, one }
}

test('what waits behind a slow replay counts as backlog: past maxBufferedBytes the client is dropped', async (t) => {
  const { store, streams, app, port, one } = await withBacklogLimit(t)
  const reader = client(t, port)
  await reader.until(() => reader.items.length > 0, 'the live client to open')
  const open = store.holdReplays()
  const c = client(t, port, { 'Last-Event-ID': one.id })
  await store.replayAsked
  const replaying = streams[1]
  const payload = 'q'.repeat(1024) // frames of about 1.1 KiB
  for (let i = 0; i < 10; i++) await app.sse.publish({ event: 'e', data: payload })
  await nextTurn()
  t.equal(replaying.signal.aborted, false, 'about 11 KiB waiting: under the limit, kept')
  for (let i = 0; i < 10; i++) await app.sse.publish({ event: 'e', data: payload })
  await nextTurn()
  t.equal(replaying.signal.aborted, false, 'about 22 KiB waiting, half of it from this turn: kept')
  await app.sse.publish({ event: 'e', data: payload })
  t.equal(await replaying.closed, 'slow', 'about 22 KiB waiting from earlier turns: dropped')
  t.same(app.sse.stats(), { connections: 1, published: 22, dropped: 1 })
  open()
  await store.replayGate
  await c.until(() => c.ended, 'the connection to be cut')
  t.equal(c.events.length, 0, 'the dropped client was sent nothing')
  await reader.eventCount(21)
  t.equal(streams[0].signal.aborted, false, 'the client that was not replaying got every event')
})

test('one burst larger than maxBufferedBytes behind a slow replay does not drop a client that reads', async (t) => {
  const { store, streams, app, port, one } = await withBacklogLimit(t)
  const open = store.holdReplays()
  const c = client(t, port, { 'Last-Event-ID': one.id })
  await store.replayAsked
  const payload = 'b'.repeat(1024)
  for (let i = 1; i <= 30; i++) await app.sse.publish({ event: 'e', data: { i, payload } })
  await nextTurn()
  t.equal(streams[0].signal.aborted, false, 'about 33 KiB waiting, all from one turn: kept, as a live client would be')
  open()
  await c.eventCount(30)
  t.same(c.events.map((e) => JSON.parse(e.data).i), Array.from({ length: 30 }, (_, i) => i + 1))
  t.equal(app.sse.stats().dropped, 0)
})

test('live events a replay already covered are skipped (a client resuming from a faster instance)', async (t) => {
  const store = new ControlledStore()
  const { app, port } = await listen(t, { store })
  const one = await app.sse.publish({ event: 'e', data: 1 })
  store.holdDeliveries = true
  await app.sse.publish({ event: 'e', data: 2 })
  await app.sse.publish({ event: 'e', data: 3 })
  const c = client(t, port, { 'Last-Event-ID': one.id })
  await c.eventCount(2)
  store.release()
  await app.sse.publish({ event: 'e', data: 4 })
  await c.eventCount(3)
  t.same(c.events.map((e) => e.data), ['2', '3', '4'])
})

test('a store that cannot serve: the stream opens and ends at once, so the client retries after `retry`', async (t) => {
  const store = new ControlledStore()
  const warnings: string[] = []
  const logStream = { write (line: string) { const entry = JSON.parse(line); if (entry.level >= 40) warnings.push(entry.msg + ' / ' + entry.err?.message) } }
  const streams: SseStream[] = []
  const { port } = await listen(t, { store, retry: 500 }, (app) => {
    // The guide's handler: it sends right after opening, which must not throw.
    app.get('/events', (_request, reply) => {
      const stream = reply.sse()
      streams.push(stream)
      stream.send({ event: 'welcome', data: 'hi' })
    })
  }, { logger: { level: 'warn', stream: logStream } })
  for (const failure of ['newestId', 'sync', 'async'] as const) {
    store.failNewestId = failure === 'newestId'
    store.failReplay = failure === 'newestId' ? undefined : failure
    const c = client(t, port, failure === 'newestId' ? {} : { 'Last-Event-ID': 'x' })
    await c.until(() => c.ended, 'the end of the response')
    t.equal(c.response?.status, 200, `${failure}: 200, so browsers retry`)
    t.ok(c.body.startsWith('retry: 500\n'), `${failure}: retry comes first`)
    t.notMatch(c.body, /^id:/m, `${failure}: no id, so the client keeps its own`)
    t.equal(await streams.at(-1)?.closed, 'server')
  }
  t.equal(warnings.length, 3, 'each failure is logged, and nothing else')
  t.match(warnings[0], /the store cannot serve a new stream.* \/ store down/)
})

test('a stream opened right after publishes gets none of them: its first id already covers them', async (t) => {
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', async (_request, reply) => {
      for (let i = 1; i <= 3; i++) await app.sse.publish({ event: 'e', data: i })
      return reply.sse()
    })
  })
  const first = client(t, port) // its handler's events go to no one yet; the next handler's reach it
  await first.until(() => first.items.length > 0, 'the first stream to open')
  const second = client(t, port)
  await first.eventCount(3)
  await second.until(() => second.items.length > 0, 'the second stream to open')
  await app.sse.publish({ event: 'e', data: 'live' })
  await second.eventCount(1)
  await first.eventCount(4)
  t.same(second.events.map((e) => e.data), ['"live"'], 'only what was published after it opened')
  t.same(first.events.map((e) => e.data), ['1', '2', '3', '"live"'])
})

test('append failures reject with FST_SSE_STORE_ERROR and the cause; coded store errors pass through', async (t) => {
  const store = new ControlledStore()
  const { app } = await listen(t, { store })
  const cause = new Error('connection refused')
  store.failAppend = cause
  const err = await app.sse.publish({ event: 'e', data: 1 }).catch((e) => e)
  t.equal(err.code, 'FST_SSE_STORE_ERROR')
  t.equal(err.cause, cause)
  t.match(err.message, /^fastify-sse-hub: the store could not/)
  const coded = Object.assign(new Error('x'), { code: 'FST_SSE_STORE_ERROR' })
  store.failAppend = coded
  t.equal(await app.sse.publish({ event: 'e', data: 1 }).catch((e) => e), coded)
  t.equal(app.sse.stats().published, 0)
})

test('a client that leaves during a slow replay is never written to', async (t) => {
  const store = new ControlledStore()
  const streams: import('../lib/index').SseStream[] = []
  const { app, port } = await listen(t, { store }, (app) => {
    app.get('/events', (_request, reply) => { streams.push(reply.sse()) })
  })
  const one = await app.sse.publish({ event: 'e', data: 1 })
  await app.sse.publish({ event: 'e', data: 2 })
  const open = store.holdReplays()
  const c = client(t, port, { 'Last-Event-ID': one.id })
  await store.replayAsked
  c.close()
  t.equal(await streams[0].closed, 'client')
  open()
  await store.replayGate
  t.equal(app.sse.stats().connections, 0)
})

test('an instance that missed events: each stream is replayed in band from the last id it was sent, exactly where its topics still hold them, else after sse-reset; none ends', async (t) => {
  const store = new ControlledStore()
  const { app, port } = await listen(t, { store, history: 2 }, (app) => {
    app.get('/events', (_request, reply) => reply.sse())
    app.get('/two', (_request, reply) => reply.sse({ topics: ['broadcast', 'other'] }))
    app.get('/private', (_request, reply) => { reply.sse({ topics: [] }).send({ event: 'hello', data: 1 }) })
  })
  const a = client(t, port)
  const two = new RawSseClient(port, '/two')
  const own = new RawSseClient(port, '/private')
  t.teardown(() => { two.close(); own.close() })
  await a.until(() => a.items.length > 0, 'a open')
  await two.until(() => two.items.length > 0, 'two open')
  await own.eventCount(1)
  const first = await app.sse.publish({ event: 'e', data: 1 })
  await a.eventCount(1)
  await two.eventCount(1)

  // Published while this instance was cut off: they never arrive here live.
  store.holdDeliveries = true
  const missed: string[] = []
  for (const topic of ['other', 'other', 'other', 'broadcast']) missed.push((await app.sse.publish({ event: 'e', data: missed.length + 2, topic })).id)
  store.dropHeld()
  store.reset('expired', missed[3])
  const live = await app.sse.publish({ event: 'e', data: 6 })

  await a.eventCount(3)
  t.same(a.events.map((e) => [e.type, e.lastEventId]), [['e', first.id], ['e', missed[3]], ['e', live.id]],
    'broadcast still holds what a missed: replayed exactly, no reset, then live')
  await two.eventCount(6)
  t.same(two.events.map((e) => e.type), ['e', 'sse-reset', 'e', 'e', 'e', 'e'])
  t.same(JSON.parse(two.events[1].data), { lastEventId: first.id, reason: 'expired' }, 'other kept 2 of its 3: the reset names the last id the stream was sent')
  t.same(two.events.slice(2).map((e) => e.lastEventId), [missed[1], missed[2], missed[3], live.id], 'then what every topic still holds, then live')
  t.equal(two.events[1].lastEventId, missed[0], 'a reconnect from the reset resumes exactly')
  t.notOk(a.ended || two.ended || own.ended, 'no stream ended')
  t.equal(own.events.length, 1, 'a private stream never relied on the store')
})

for (const failure of ['sync', 'async'] as const) {
  test(`an instance that missed events, and a store that cannot replay (${failure}): sse-reset expired at the gap, then live`, async (t) => {
    const store = new ControlledStore()
    const { app, port } = await listen(t, { store })
    const a = client(t, port)
    await a.until(() => a.items.length > 0, 'a open')
    const first = await app.sse.publish({ event: 'e', data: 1 })
    await a.eventCount(1)
    store.holdDeliveries = true
    const gap = await app.sse.publish({ event: 'e', data: 2 })
    store.dropHeld()
    store.failReplay = failure
    store.reset('expired', gap.id)
    const live = await app.sse.publish({ event: 'e', data: 3 })
    await a.eventCount(3)
    t.same(a.events.map((e) => [e.type, e.lastEventId]), [['e', first.id], ['sse-reset', gap.id], ['e', live.id]])
    t.same(JSON.parse(a.events[1].data), { lastEventId: first.id, reason: 'expired' })
  })
}

test('a reset while a replay is pending waits behind it; a stream whose replay is already past the reset point gets none', async (t) => {
  const store = new ControlledStore()
  const { app, port } = await listen(t, { store }, (app) => {
    app.get('/events', (_request, reply) => reply.sse())
  })
  const one = await app.sse.publish({ event: 'e', data: 1 })
  const two = await app.sse.publish({ event: 'e', data: 2 })
  const open = store.holdReplays()
  const c = client(t, port, { 'Last-Event-ID': one.id })
  await store.replayAsked
  store.reset('expired', one.id)
  store.reset('expired', two.id.replace(/-\d+$/, '-9'))
  open()
  await c.eventCount(2)
  const three = await app.sse.publish({ event: 'e', data: 3 })
  await c.eventCount(3)
  t.same(c.events.map((e) => [e.type, e.lastEventId]), [['e', two.id], ['sse-reset', two.id.replace(/-\d+$/, '-9')], ['e', three.id]],
    'the replay, the one reset it is not past, then live')
  t.same(JSON.parse(c.events[1].data), { lastEventId: two.id, reason: 'expired' })
  t.notOk(c.ended)
})

test('a stream that ends before it started is still an event stream, with its handler\'s sends and none of the live events it held', async (t) => {
  const store = new ControlledStore()
  const streams: SseStream[] = []
  const { app, port } = await listen(t, { store, retry: 700 }, (app) => {
    app.get('/events', (_request, reply) => {
      reply.header('access-control-allow-origin', '*')
      const stream = reply.sse()
      stream.send({ event: 'hello', data: 'from the handler' })
      streams.push(stream)
    })
  })
  const one = await app.sse.publish({ event: 'e', data: 1 })
  for (const how of ['close', 'store fails'] as const) {
    store.holdReplays()
    const c = client(t, port, { 'Last-Event-ID': one.id })
    await store.replayAsked
    await app.sse.publish({ event: 'e', data: 'held live event' })
    if (how === 'close') streams.at(-1)!.close()
    else store.failHeld(new Error('store down'))
    await c.responseEnd()
    t.equal(c.response?.status, 200, how)
    t.equal(c.response?.headers['content-type'], 'text/event-stream; charset=utf-8', `${how}: an event stream, so EventSource retries`)
    t.equal(c.response?.headers['access-control-allow-origin'], '*')
    t.equal(c.body, 'retry: 700\n\nevent: hello\ndata: "from the handler"\n\n', `${how}: retry and the handler's send; not the live event, which would move the client past what it missed`)
  }
})

test('a store of one\'s own, written with the exported helpers, replays and resets like the built-in one', async (t) => {
  /** Keeps the last 2 events of every topic in one array: the smallest honest store. */
  class TinyStore implements SseStore {
    private readonly epoch = newEpoch()
    private seq = 0
    private events: SseStoredEvent[] = []
    private dropped = new Map<string, number>()
    private context!: SseStoreContext
    async open (context: SseStoreContext): Promise<void> { this.context = context }
    async append (topic: string, event: string, data: string): Promise<SseStoredEvent> {
      const stored = { seq: ++this.seq, id: formatEventId(this.epoch, this.seq), topic, event, data }
      this.events.push(stored)
      const ofTopic = this.events.filter((e) => e.topic === topic)
      if (ofTopic.length > 2) {
        this.dropped.set(topic, ofTopic[0].seq)
        this.events = this.events.filter((e) => e !== ofTopic[0])
      }
      this.context.deliver(stored)
      return stored
    }

    newestId (): string { return formatEventId(this.epoch, this.seq) }
    replay (topics: readonly string[], from: SseReplayFrom): SseReplay {
      const histories = topics.map((topic) => ({ events: this.events.filter((e) => e.topic === topic), droppedUpTo: this.dropped.get(topic) ?? 0 }))
      if ('backfill' in from) return planBackfill(from.backfill, this.seq, histories)
      return planReplay(this.epoch, parseEventId(from.lastEventId, this.epoch, this.seq), histories)
    }

    async disconnect (topic: string): Promise<void> { this.context.disconnect(topic) }

    async close (): Promise<void> {}
  }
  const { app, port } = await listen(t, { store: new TinyStore() })
  const one = await app.sse.publish({ event: 'e', data: 1 })
  const two = await app.sse.publish({ event: 'e', data: 2 })
  await app.sse.publish({ event: 'e', data: 3 })
  await app.sse.publish({ event: 'e', data: 4 }) // events 1 and 2 are gone now
  const exact = client(t, port, { 'Last-Event-ID': two.id })
  await exact.eventCount(2)
  t.same(exact.events.map((e) => e.data), ['3', '4'])
  const expired = client(t, port, { 'Last-Event-ID': one.id })
  await expired.eventCount(3)
  t.same(expired.events.map((e) => `${e.type}:${e.data}`), [`sse-reset:{"lastEventId":"${one.id}","reason":"expired"}`, 'e:3', 'e:4'])
})

test('disconnect(): a store that fails rejects with FST_SSE_STORE_ERROR; coded store errors pass through', async (t) => {
  const store = new ControlledStore()
  const { app } = await listen(t, { store })
  const cause = new Error('connection refused')
  store.failDisconnect = cause
  t.match(await app.sse.disconnect('user:1').catch((e) => e), { code: 'FST_SSE_STORE_ERROR', cause })
  const coded = Object.assign(new Error('x'), { code: 'FST_SSE_STORE_ERROR' })
  store.failDisconnect = coded
  t.equal(await app.sse.disconnect('user:1').catch((e) => e), coded)
})

test('HEAD: a private stream answers its headers; a store that cannot answer ends it like GET', async (t) => {
  const store = new ControlledStore()
  const { url } = await listen(t, { store, retry: 300 }, (app) => {
    app.get('/private', (_request, reply) => reply.sse({ topics: [] }))
    app.get('/events', (_request, reply) => reply.sse())
  })
  const head = await fetch(`${url}/private`, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(head.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  for (const failure of ['sync', 'async'] as const) {
    store.failReplay = failure
    const response = await fetch(`${url}/events`, { method: 'HEAD' })
    t.equal(response.status, 200, `${failure}: 200, as GET would get`)
  }
})

test('sendAll on a stream whose replay is still read waits for it, then sends after it', async (t) => {
  const store = new ControlledStore()
  const { app, port } = await listen(t, { store }, (app) => {
    app.get('/events', (_request, reply) => {
      reply.sse().sendAll([{ event: 'hello', data: 1 }, { event: 'hello', data: 2 }], { close: false })
    })
  })
  const one = await app.sse.publish({ event: 'e', data: 1 })
  await app.sse.publish({ event: 'e', data: 2 })
  const open = store.holdReplays()
  const c = client(t, port, { 'Last-Event-ID': one.id })
  await store.replayAsked
  await nextTurn()
  t.equal(c.events.length, 0)
  open()
  await c.eventCount(3)
  t.same(c.events.map((e) => `${e.type}:${e.data}`), ['e:2', 'hello:1', 'hello:2'], 'the replay first, then the source')
})
