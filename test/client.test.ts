// fastify-sse-hub/client in Node, over undici's EventSource, against real servers on 127.0.0.1.
import { test, type Test } from 'tap'
import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import { EventSource } from 'undici'
import { listen } from './helpers/app'
import { SseClient, type SseClientOptions, type SseReset, type SseStateChange } from '../lib/client/index'
import fastifySse, { type SseStream } from '../lib/index'

const events = {
  notification: Type.Object({ title: Type.String(), message: Type.String() }),
  'user-count': Type.Object({ count: Type.Integer({ minimum: 0 }) }),
  message: Type.Object({ text: Type.String() }),
  open: Type.Object({ door: Type.String() }),
  error: Type.Object({ code: Type.String() })
}

/** An EventSource that records the URL of every connection it makes. */
function recordingEventSource (urls: string[]): typeof EventSource {
  return class extends EventSource {
    constructor (url: string | URL, init?: ConstructorParameters<typeof EventSource>[1]) {
      urls.push(String(url))
      super(url, init)
    }
  }
}

/** Everything a client reports, and a way to await it without sleeping. */
class Recorder {
  readonly received: Array<{ event: string, data: unknown, id: string }> = []
  readonly states: SseStateChange[] = []
  readonly resets: SseReset[] = []
  readonly errors: Error[] = []
  private waiters: Array<() => void> = []

  watch<E extends object> (client: SseClient<E>, names: string[] = []): SseClient<E> {
    const untyped = client as unknown as SseClient<Record<never, never>>
    for (const name of names) untyped.on(name, (data, event) => this.add(this.received, { event: name, data, id: event.lastEventId }))
    client.onState((change) => this.add(this.states, change))
    client.onReset((reset) => this.add(this.resets, reset))
    client.onError((error) => this.add(this.errors, error))
    return client
  }

  add<T> (list: T[], item: T): void {
    list.push(item)
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  get stateNames (): string[] {
    return this.states.map((s) => s.state)
  }

  async until (check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${what}; states ${JSON.stringify(this.states)}, received ${JSON.stringify(this.received)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }
}

function client<E extends object = typeof events> (t: Test, url: string, options: SseClientOptions = {}): SseClient<E> {
  const sse = new SseClient<E>(url, { EventSource, ...options })
  t.teardown(() => sse.close())
  return sse
}

/**
 * An app whose `/events` streams are kept, and which answers 503 while `down` is above 0. A HEAD
 * (the client's probe) gets the status a GET would get and changes nothing; `heads` has its query.
 */
async function flakyApp (t: Test, options = {}) {
  const streams: SseStream[] = []
  const queries: Array<string | undefined> = []
  const heads: Array<string | undefined> = []
  const state = { down: 0 }
  const served = await listen(t, { events, retry: 10, ...options }, (app) => {
    app.route({
      method: ['GET', 'HEAD'],
      url: '/events',
      handler: (request, reply) => {
        const { lastEventId } = request.query as { lastEventId?: string }
        if (request.method === 'HEAD') {
          heads.push(lastEventId)
          return reply.code(state.down > 0 ? 503 : 200).send()
        }
        queries.push(lastEventId)
        if (state.down > 0) {
          state.down--
          return reply.code(503).send({ error: 'try later' })
        }
        streams.push(reply.sse())
      }
    })
  })
  return { ...served, streams, queries, heads, state }
}

test('listeners get the parsed data of their events, typed by the server\'s schemas', async (t) => {
  const { app, url } = await listen(t, { events })
  const recorder = new Recorder()
  const sse = recorder.watch(client(t, `${url}/events`), ['message'])
  const notifications: Array<{ title: string, message: string }> = []
  const stop = sse.on('notification', (data) => { notifications.push(data) })
  t.equal(sse.state, 'connecting')
  t.equal(sse.lastEventId, undefined)
  await recorder.until(() => sse.state === 'open', 'open')

  const counts: number[] = []
  const texts: string[] = []
  sse.on('user-count', ({ count }) => { counts.push(count) }) // added while open
  sse.on('message', ({ text }) => { texts.push(text) }) // a second listener of one event
  const first = await app.sse.publish({ event: 'notification', data: { title: 'Hi', message: 'there' } })
  await app.sse.publish({ event: 'user-count', data: { count: 3 } })
  const last = await app.sse.publish({ event: 'message', data: { text: 'plain' } })
  await recorder.until(() => recorder.received.length === 1, 'the message event')
  t.same(notifications, [{ title: 'Hi', message: 'there' }])
  t.same(counts, [3])
  t.same(recorder.received, [{ event: 'message', data: { text: 'plain' }, id: last.id }], 'onmessage\'s events are named `message`')
  t.equal(sse.lastEventId, last.id)
  t.same(texts, ['plain'])

  stop()
  await app.sse.publish({ event: 'notification', data: { title: 'unseen', message: '' } })
  await app.sse.publish({ event: 'message', data: { text: 'after' } })
  await recorder.until(() => recorder.received.length === 2, 'the second message')
  t.equal(notifications.length, 1, 'a removed listener gets nothing more')
  t.not(first.id, last.id)
  t.same(recorder.stateNames, ['open'])
})

test('events the server names `open` or `error` reach their listeners and leave the state alone', async (t) => {
  const { app, url } = await listen(t, { events })
  const recorder = new Recorder()
  const sse = recorder.watch(client(t, `${url}/events`), ['open', 'error', 'message'])
  await recorder.until(() => sse.state === 'open', 'open')
  await app.sse.publish({ event: 'error', data: { code: 'E1' } })
  await app.sse.publish({ event: 'open', data: { door: 'front' } })
  await app.sse.publish({ event: 'message', data: { text: 'still here' } })
  await recorder.until(() => recorder.received.length === 3, 'three events')
  t.same(recorder.received.map((r) => r.data), [{ code: 'E1' }, { door: 'front' }, { text: 'still here' }])
  t.same(recorder.stateNames, ['open'], 'no reconnect, no second open')
})

test('sse-reset goes to onReset, with the id received and the reason, then the stream goes on', async (t) => {
  const { app, url } = await listen(t, { events })
  const kept = await app.sse.publish({ event: 'message', data: { text: 'kept' } })
  const recorder = new Recorder()
  const sse = recorder.watch(client(t, `${url}/events`, { lastEventId: 'from-another-life' }), ['message'])
  await recorder.until(() => recorder.received.length === 1, 'the retained event')
  t.same(recorder.resets, [{ lastEventId: 'from-another-life', reason: 'unknown' }])
  t.same(recorder.received, [{ event: 'message', data: { text: 'kept' }, id: kept.id }], 'the reset is no ordinary event')
  t.equal(sse.lastEventId, kept.id)
})

test('a reset frame moves the resume point even when no event follows it', async (t) => {
  const { url } = await listen(t, { events })
  const recorder = new Recorder()
  const sse = recorder.watch(client(t, `${url}/events`, { lastEventId: 'garbage' }))
  await recorder.until(() => recorder.resets.length === 1, 'the reset')
  t.not(sse.lastEventId, 'garbage')
  t.match(sse.lastEventId, /^[0-9a-z]+-0$/, 'the id of the reset frame: the start of this history')
})

test('after a 503 it backs off exponentially and resumes from its last id in the query', async (t) => {
  const { app, url, streams, queries, heads, state } = await flakyApp(t)
  const urls: string[] = []
  const recorder = new Recorder()
  const sse = recorder.watch(client(t, `${url}/events`, {
    EventSource: recordingEventSource(urls),
    backoff: { initialDelay: 20, factor: 3, jitter: 0 }
  }), ['message'])
  await recorder.until(() => sse.state === 'open', 'open')
  const seen = await app.sse.publish({ event: 'message', data: { text: 'seen' } })
  await recorder.until(() => recorder.received.length === 1, 'the first event')

  state.down = 2
  streams[0].close() // undici reconnects by itself, gets a 503 and gives up: the client takes over
  await recorder.until(() => recorder.states.filter((s) => s.attempt !== undefined).length === 1, 'the first backoff')
  const missed = await app.sse.publish({ event: 'message', data: { text: 'published while away' } })
  await recorder.until(() => recorder.received.length === 2, 'the missed event')

  t.same(recorder.states.map(({ state, attempt, delay }) => ({ state, attempt, delay })), [
    { state: 'open', attempt: undefined, delay: undefined },
    { state: 'reconnecting', attempt: undefined, delay: undefined },
    { state: 'reconnecting', attempt: 1, delay: 20 },
    { state: 'reconnecting', attempt: 2, delay: 60 },
    { state: 'open', attempt: undefined, delay: undefined }
  ])
  t.same(recorder.received.map((r) => r.data), [{ text: 'seen' }, { text: 'published while away' }], 'nothing lost, nothing twice')
  t.same(queries, [undefined, undefined, seen.id, seen.id], 'EventSource\'s own retry sends the header; the client\'s, the query')
  t.equal(urls.length, 3, 'one EventSource per give-up')
  t.equal(new URL(urls[2]).searchParams.get('lastEventId'), seen.id)
  t.equal(sse.lastEventId, missed.id)

  state.down = 1
  streams[1].close()
  await recorder.until(() => recorder.stateNames.length === 8, 'the next recovery')
  t.same(recorder.states.slice(5).map(({ state, attempt, delay }) => ({ state, attempt, delay })), [
    { state: 'reconnecting', attempt: undefined, delay: undefined },
    { state: 'reconnecting', attempt: 1, delay: 20 },
    { state: 'open', attempt: undefined, delay: undefined }
  ], 'an open stream starts the backoff over')
  t.equal(new URL(urls[3]).searchParams.get('lastEventId'), missed.id, 'the query carries the newest id, replacing the old one')
  t.same(heads, [seen.id, seen.id, missed.id], 'before each backoff, a HEAD with the last id: not finished')
})

test('jitter keeps each delay between (1 - jitter) and 1 times its step; maxDelay caps; maxRetries gives up', async (t) => {
  const { url, state } = await flakyApp(t)
  state.down = Infinity
  const recorder = new Recorder()
  const sse = recorder.watch(client(t, `${url}/events`, {
    backoff: { initialDelay: 10, factor: 4, maxDelay: 50, jitter: 0.5, maxRetries: 3 }
  }))
  await recorder.until(() => sse.state === 'closed', 'giving up')
  const delays = recorder.states.filter((s) => s.delay !== undefined).map((s) => s.delay as number)
  t.equal(delays.length, 3)
  t.ok(delays[0] >= 5 && delays[0] <= 10, `first ${delays[0]}`)
  t.ok(delays[1] >= 20 && delays[1] <= 40, `second ${delays[1]}`)
  t.ok(delays[2] >= 25 && delays[2] <= 50, `third ${delays[2]} (capped at 50)`)
  t.same(recorder.stateNames, ['reconnecting', 'reconnecting', 'reconnecting', 'closed'])
  t.equal(recorder.states[3].reason, 'maxRetries')
})

test('maxRetries: 0 gives up at the first refusal', async (t) => {
  const { url, state } = await flakyApp(t)
  state.down = 1
  const recorder = new Recorder()
  const sse = recorder.watch(client(t, `${url}/events`, { backoff: { maxRetries: 0 } }))
  await recorder.until(() => sse.state === 'closed', 'closed')
  t.same(recorder.states, [{ state: 'closed', reason: 'maxRetries' }])
})

test('a server restart: EventSource retries by itself (one `reconnecting`), then sse-reset `unknown`', async (t) => {
  // At close the stream's last retry: is 10 + up to 20 ms (shutdownSpread): EventSource keeps it for the refused reconnects.
  const before = await listen(t, { events, retry: 10, shutdownSpread: 20 })
  const recorder = new Recorder()
  let failures = 0
  const CountingEventSource = class extends EventSource {
    constructor (url: string | URL, init?: ConstructorParameters<typeof EventSource>[1]) {
      super(url, init)
      this.addEventListener('error', () => recorder.add([], failures++))
    }
  }
  const sse = recorder.watch(client(t, `${before.url}/events`, { EventSource: CountingEventSource }), ['message'])
  await recorder.until(() => sse.state === 'open', 'open')
  const old = await before.app.sse.publish({ event: 'message', data: { text: 'before' } })
  await recorder.until(() => recorder.received.length === 1, 'the first event')
  await before.app.close()
  await recorder.until(() => failures >= 3, 'the stream end and two refused connections')

  const after = Fastify()
  t.teardown(() => after.close())
  await after.register(fastifySse, { events, retry: 10 })
  after.get('/events', (_request, reply) => reply.sse())
  const published = after.sse.publish({ event: 'message', data: { text: 'after the restart' } })
  await after.listen({ port: before.port, host: '127.0.0.1' })
  await published
  await recorder.until(() => recorder.received.length === 2, 'the event published after the restart')
  t.same(recorder.resets, [{ lastEventId: old.id, reason: 'unknown' }])
  t.same(recorder.received.map((r) => r.data), [{ text: 'before' }, { text: 'after the restart' }])
  t.same(recorder.stateNames, ['open', 'reconnecting', 'open'], 'refused connections while down were one `reconnecting`')
})

test('data that is not JSON goes to onError, not to the listeners', async (t) => {
  const { url } = await listen(t, {}, (app) => fixedStream(app, '/raw', 'event: note\ndata: not json\n\nevent: sse-reset\ndata: {\n\nid: 7\nevent: note\ndata: {"ok":true}\n\n'))
  const recorder = new Recorder()
  const sse = recorder.watch(client<Record<never, never>>(t, `${url}/raw`), ['note'])
  await recorder.until(() => recorder.received.length === 1, 'the JSON event')
  t.equal(recorder.errors.length, 2)
  t.type(recorder.errors[0], SyntaxError)
  t.match(recorder.errors[0].message, /fastify-sse-hub\/client: the data of event "note" is not JSON; listen with onText\(\) for text events/)
  t.match(recorder.errors[1].message, /the data of event "sse-reset" is not JSON/)
  t.same(recorder.resets, [])
  t.same(recorder.received, [{ event: 'note', data: { ok: true }, id: '7' }])
  t.equal(sse.lastEventId, '7')
})

// An OpenAI-style answer: JSON chunks, then the text `[DONE]`; and tokens sent as text.
interface AnswerEvents {
  message: { delta: string } | '[DONE]'
  token: string
}

test('text events reach onText listeners as sent: `[DONE]` after JSON chunks, tokens unparsed', async (t) => {
  const { url } = await listen(t, {}, (app) => fixedStream(app, '/answer',
    'event: token\ndata: 42\n\nevent: token\ndata: two\ndata: lines\n\n' +
    'data: {"delta":"Hel"}\n\ndata: {"delta":"lo"}\n\nid: 9\ndata: [DONE]\n\n'))
  const recorder = new Recorder()
  const sse = recorder.watch(client<AnswerEvents>(t, `${url}/answer`))
  const tokens: string[] = []
  const chunks: unknown[] = []
  const done: Array<{ text: string, id: string }> = []
  sse.onText('token', (text) => { tokens.push(text) })
  sse.on('message', (chunk) => { chunks.push(chunk) })
  sse.onText('message', (text, event) => recorder.add(done, { text, id: event.lastEventId }))
  await recorder.until(() => done.length === 1, '[DONE]')
  t.same(tokens, ['42', 'two\nlines'], 'a text that looks like JSON stays a string; one line per data: line')
  t.same(chunks, [{ delta: 'Hel' }, { delta: 'lo' }], 'JSON listeners of the same name get the chunks, parsed')
  t.same(done, [{ text: '[DONE]', id: '9' }], 'the text listener gets only what is not JSON')
  t.same(recorder.errors, [])
  t.equal(sse.lastEventId, '9')
})

test('a name with text listeners only gets every event raw, from the moment its last JSON listener goes', async (t) => {
  const { url } = await listen(t, {}, (app) => fixedStream(app, '/mixed', 'data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n'))
  const recorder = new Recorder()
  const sse = recorder.watch(client<Record<never, never>>(t, `${url}/mixed`))
  const parsed: unknown[] = []
  const texts: string[] = []
  const stop = sse.on('message', (data) => { parsed.push(data); stop() })
  sse.onText('message', (text) => recorder.add(texts, text))
  await recorder.until(() => texts.length === 2, 'two text events')
  t.same(parsed, [{ n: 1 }])
  t.same(texts, ['{"n":2}', '[DONE]'])
  t.same(recorder.errors, [])
})

test('after close() no listener is called, even for events that came in the same chunk', async (t) => {
  const { url } = await listen(t, {}, (app) => fixedStream(app, '/burst', 'id: 1\nevent: note\ndata: 1\n\nid: 2\nevent: note\ndata: 2\n\nevent: sse-reset\ndata: {}\n\n'))
  const recorder = new Recorder()
  const sse = recorder.watch(client<Record<never, never>>(t, `${url}/burst`), ['note'])
  sse.on('note', () => sse.close())
  await recorder.until(() => sse.state === 'closed', 'closed')
  t.same(recorder.received.map((r) => r.data), [1])
  t.same(recorder.resets, [])
  t.equal(sse.lastEventId, '1')
})

test('close() ends the connection and cancels a pending reconnect; twice is harmless', async (t) => {
  const { url, state, queries } = await flakyApp(t)
  state.down = 1
  const recorder = new Recorder()
  const sse = recorder.watch(client(t, `${url}/events`, { backoff: { initialDelay: 60_000 } }))
  await recorder.until(() => recorder.states.some((s) => s.attempt === 1), 'the scheduled reconnect')
  sse.close()
  sse.close()
  sse.on('message', () => t.fail('closed')) // nothing to attach to
  t.equal(sse.state, 'closed')
  t.same(recorder.states.map(({ state, reason }) => ({ state, reason })), [
    { state: 'reconnecting', reason: undefined },
    { state: 'closed', reason: 'close' }
  ])
  t.equal(queries.length, 1)

  const open = new Recorder()
  const other = open.watch(client(t, `${url}/events`))
  await open.until(() => other.state === 'open', 'open')
  other.close()
  t.same(open.stateNames, ['open', 'closed'])
})

test('close() while the connection is being made: the abort EventSource reports is not a failure', async (t) => {
  let answer = () => {}
  const { url } = await listen(t, { events }, (app) => {
    app.get('/slow', async (_request, reply) => {
      await new Promise<void>((resolve) => { answer = resolve })
      return reply.sse()
    })
  })
  t.teardown(() => answer())
  const recorder = new Recorder()
  let errors = 0
  const CountingEventSource = class extends EventSource {
    constructor (url: string | URL, init?: ConstructorParameters<typeof EventSource>[1]) {
      super(url, init)
      this.addEventListener('error', () => recorder.add([], errors++))
    }
  }
  const sse = recorder.watch(client(t, `${url}/slow`, { EventSource: CountingEventSource, backoff: { initialDelay: 0 } }))
  sse.close()
  await recorder.until(() => errors === 1, 'the error of the aborted connection')
  t.same(recorder.stateNames, ['closed'], 'no reconnect after close()')
})

test('EventSource from globalThis, a relative URL against location, eventSourceInit passed on', async (t) => {
  const { app, url, queries } = await flakyApp(t)
  const given = await app.sse.publish({ event: 'message', data: { text: 'replayed' } })
  const inits: unknown[] = []
  const urls: string[] = []
  const Recording = recordingEventSource(urls)
  const global = globalThis as { EventSource?: unknown, location?: unknown }
  const before = { EventSource: global.EventSource, location: global.location } // a Node line may have its own
  global.EventSource = class extends Recording {
    constructor (url: string | URL, init?: ConstructorParameters<typeof EventSource>[1]) {
      inits.push(init)
      super(url, init)
    }
  }
  global.location = { href: `${url}/some/page` }
  t.teardown(() => {
    for (const key of ['EventSource', 'location'] as const) {
      if (before[key] === undefined) delete global[key]
      else global[key] = before[key]
    }
  })
  const recorder = new Recorder()
  const sse = recorder.watch(new SseClient<typeof events>('/events?room=1', { lastEventId: given.id, eventSourceInit: { withCredentials: false } }), ['message'])
  t.teardown(() => sse.close())
  await recorder.until(() => sse.state === 'open', 'open')
  t.same(urls, [`${url}/events?room=1&lastEventId=${encodeURIComponent(given.id)}`])
  t.same(inits, [{ withCredentials: false }])
  t.same(queries, [given.id])
  await app.sse.publish({ event: 'message', data: { text: 'live' } })
  await recorder.until(() => recorder.received.length === 1, 'the live event')
  t.same(recorder.received.map((r) => r.data), [{ text: 'live' }], 'resumed after the given id')
})

test('a URL object is accepted', async (t) => {
  const { url } = await listen(t, { events })
  const recorder = new Recorder()
  const sse = recorder.watch(new SseClient(new URL('/events', url), { EventSource }))
  t.teardown(() => sse.close())
  await recorder.until(() => sse.state === 'open', 'open')
  t.pass()
})

test('no EventSource, or a wrong backoff option, is a TypeError that says what to do', async (t) => {
  const global = globalThis as { EventSource?: unknown }
  const own = global.EventSource // none without --experimental-eventsource on Node 20 to 24 (test/node-lines.test.ts)
  global.EventSource = undefined
  t.teardown(() => { global.EventSource = own })
  t.throws(() => new SseClient('http://127.0.0.1:9/events'), {
    name: 'TypeError',
    message: /fastify-sse-hub\/client: no EventSource here; pass one as the `EventSource` option/
  })
  const wrong: Array<[string, unknown, RegExp]> = [
    ['initialDelay', -1, /backoff.initialDelay must be a number from 0 to Infinity, got -1/],
    ['maxDelay', '5', /backoff.maxDelay must be a number from 0 to Infinity, got 5/],
    ['factor', 0.5, /backoff.factor must be a number from 1 to Infinity, got 0.5/],
    ['jitter', 2, /backoff.jitter must be a number from 0 to 1, got 2/],
    ['maxRetries', Number.NaN, /backoff.maxRetries must be a number from 0 to Infinity, got NaN/]
  ]
  for (const [name, value, message] of wrong) {
    t.throws(() => new SseClient('http://127.0.0.1:9/events', { EventSource, backoff: { [name]: value } }), { name: 'TypeError', message }, name)
  }
})

/**
 * A plain app, no plugin, standing in for a hub whose topics finish: its first `streams` GETs
 * each get one event (`id: n`) and end, so EventSource reconnects by itself; after that a GET is
 * answered 204, and a HEAD gets the status the next GET would. Every request is recorded.
 */
async function finishingApp (t: Test, recorder: Recorder, streams: number) {
  const requests: Array<{ method: string, header?: string, query?: string, status: number }> = []
  const app = Fastify()
  t.teardown(() => app.close())
  let served = 0
  app.route({
    method: ['GET', 'HEAD'],
    url: '/answer',
    handler: (request, reply) => {
      const finished = request.method === 'HEAD' ? served >= streams : ++served > streams
      const header = request.headers['last-event-id'] as string | undefined
      const query = (request.query as { lastEventId?: string }).lastEventId
      recorder.add(requests, { method: request.method, header, query, status: finished ? 204 : 200 })
      if (finished) return reply.code(204).send()
      if (request.method === 'HEAD') return reply.code(200).send()
      reply.hijack()
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream' })
      reply.raw.end(`retry: 10\nid: ${served}\ndata: {"n":${served}}\n\n`)
    }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}/answer`, requests }
}

test('a 204 ends the client for good: closed, reason `finished`, after one HEAD with the last id', async (t) => {
  const recorder = new Recorder()
  const { url, requests } = await finishingApp(t, recorder, 2)
  const sse = recorder.watch(client<Record<never, never>>(t, url, { backoff: { initialDelay: 10, jitter: 0 } }), ['message'])
  await recorder.until(() => sse.state === 'closed', 'closed')
  t.same(recorder.received.map((r) => r.data), [{ n: 1 }, { n: 2 }])
  t.same(recorder.states, [
    { state: 'open' },
    { state: 'reconnecting' },
    { state: 'open' },
    { state: 'reconnecting' },
    { state: 'closed', reason: 'finished' }
  ], 'no backoff')
  t.same(requests, [
    { method: 'GET', header: undefined, query: undefined, status: 200 },
    { method: 'GET', header: '1', query: undefined, status: 200 },
    { method: 'GET', header: '2', query: undefined, status: 204 },
    { method: 'HEAD', header: undefined, query: '2', status: 204 }
  ], 'EventSource\'s own reconnects, then the probe with the last id in the query')
  await t.rejects(recorder.until(() => requests.length > 4, 'another request', 300), /timed out/, 'nothing more')
  t.equal(sse.state, 'closed')
})

test('a 204 to the first connection: finished, even with maxRetries: 0', async (t) => {
  const recorder = new Recorder()
  const { url, requests } = await finishingApp(t, recorder, 0)
  const sse = recorder.watch(client<Record<never, never>>(t, url, { backoff: { maxRetries: 0 } }))
  await recorder.until(() => sse.state === 'closed', 'closed')
  t.same(recorder.states, [{ state: 'closed', reason: 'finished' }])
  t.same(requests.map((r) => [r.method, r.query, r.status]), [['GET', undefined, 204], ['HEAD', undefined, 204]])
})

test('the probe: the fetch option, credentials as EventSource sends them, a failed probe is no 204', async (t) => {
  const recorder = new Recorder()
  const { url, requests } = await finishingApp(t, recorder, 0)
  const probes: Array<[string, unknown]> = []
  let fail = true
  const sse = recorder.watch(client<Record<never, never>>(t, url, {
    eventSourceInit: { withCredentials: true },
    backoff: { initialDelay: 0 },
    fetch: async (url, init) => {
      probes.push([url, init])
      if (fail) {
        fail = false
        throw new TypeError('fetch failed')
      }
      return await fetch(url, init)
    }
  }))
  await recorder.until(() => sse.state === 'closed', 'closed')
  t.same(probes, [[url, { method: 'HEAD', credentials: 'include' }], [url, { method: 'HEAD', credentials: 'include' }]])
  t.same(recorder.states.map(({ state, attempt, reason }) => ({ state, attempt, reason })), [
    { state: 'reconnecting', attempt: 1, reason: undefined },
    { state: 'closed', attempt: undefined, reason: 'finished' }
  ], 'the failed probe led to one backoff; the next found the 204')
  t.same(requests.map((r) => r.method), ['GET', 'GET', 'HEAD'])
})

test('close() while the probe is on its way: no backoff after it', async (t) => {
  const recorder = new Recorder()
  const { url } = await finishingApp(t, recorder, 0)
  const answers: Array<(status: number) => void> = []
  const sse = recorder.watch(client<Record<never, never>>(t, url, {
    backoff: { initialDelay: 0 },
    fetch: async () => await new Promise((resolve) => recorder.add(answers, (status: number) => resolve({ status })))
  }))
  await recorder.until(() => answers.length === 1, 'the probe')
  sse.close()
  answers[0](200)
  await t.rejects(recorder.until(() => recorder.states.length > 1, 'another state', 100), /timed out/)
  t.same(recorder.states, [{ state: 'closed', reason: 'close' }])
})

test('without fetch anywhere there is no probe: the backoff goes on as before', async (t) => {
  const { url, queries, state } = await flakyApp(t)
  state.down = 1
  const global = globalThis as { fetch?: unknown }
  const { fetch } = global
  global.fetch = undefined
  t.teardown(() => { global.fetch = fetch })
  const recorder = new Recorder()
  const sse = recorder.watch(client(t, `${url}/events`, { backoff: { initialDelay: 0 } }))
  await recorder.until(() => sse.state === 'open', 'open')
  t.same(recorder.stateNames, ['reconnecting', 'open'])
  t.same(queries, [undefined, undefined])
})

/** A route that writes `bytes` as an event stream by hand: for what the plugin itself never sends. */
function fixedStream (app: FastifyInstance, path: string, bytes: string): void {
  app.get(path, (_request, reply) => {
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream' })
    reply.raw.write(bytes)
    reply.hijack()
  })
}
