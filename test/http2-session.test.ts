// Issue 14: one HTTP/2 session carries every tab of a browser; what its event streams hold
// unsent must not fill the session, or it refuses the page's own requests.
import { test, type Test } from 'tap'
import { connect as connectHttp2, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import { listen } from './helpers/app'
import { SseParser } from './helpers/sse-parser'
import type { SseStream } from '../lib/index'
import { within } from './helpers/within'

/** A request on `session`: its status, or the stream error that refused it. */
async function statusOf (session: ClientHttp2Session, path: string): Promise<number | string> {
  const request = session.request({ ':path': path })
  return await within(new Promise((resolve) => {
    request.on('response', (headers) => { request.resume(); resolve(headers[':status'] as number) })
    request.on('error', (err) => resolve(err.message))
  }), `the answer to ${path}`)
}

/** Counts the events `request` receives: the function returned resolves once `n` have arrived. */
function eventCounter (request: ClientHttp2Stream): (n: number) => Promise<void> {
  let count = 0
  const waiting = new Set<() => void>()
  const parser = new SseParser((item) => {
    if (item.kind !== 'event') return
    count++
    for (const check of waiting) check()
  })
  request.setEncoding('utf8')
  request.on('data', (chunk: string) => parser.push(chunk))
  return async (n) => await within(new Promise<void>((resolve) => {
    const check = (): void => {
      if (count < n) return
      waiting.delete(check)
      resolve()
    }
    waiting.add(check)
    check()
  }), `${n} events`)
}

/** An app on HTTP/2 and one client session with `n` event streams open on it. */
async function sessionWithStreams (t: Test, n: number, http: { maxSessionMemory?: number } = {}): Promise<{ app: FastifyInstance, session: ClientHttp2Session, requests: ClientHttp2Stream[], opened: SseStream[] }> {
  const opened: SseStream[] = []
  const { app, url } = await listen(t, { heartbeat: 0 }, (app) => {
    app.get('/events', (_request, reply) => { opened.push(reply.sse({ topics: [String(opened.length)] })) })
    app.get('/ping', async () => 'pong')
  }, { http2: true, http })
  const session = connectHttp2(url).on('error', () => {})
  t.teardown(() => session.destroy())
  const requests: ClientHttp2Stream[] = []
  for (let i = 0; i < n; i++) {
    // One topic per stream, opened in order: each stream is written on its own.
    const request = session.request({ ':path': '/events' }).on('error', () => {})
    await within(once(request, 'response'), `event stream ${i} to open`)
    requests.push(request)
  }
  return { app, session, requests, opened }
}

/**
 * Publishes about `bytes` to each of `topics` in one turn of the event loop: each stream gets one
 * write. Returns once the hub's turn is over too (it ends in an immediate queued after the first).
 */
async function burst (app: FastifyInstance, topics: number, bytes: number): Promise<void> {
  const data = 'x'.repeat(64 * 1024)
  for (let i = 0; i < bytes / data.length; i++) {
    for (let topic = 0; topic < topics; topic++) await app.sse.publish({ event: 'big', data, topic: String(topic) })
  }
  await nextTurn()
  await nextTurn()
}

test('HTTP/2: event streams that stopped reading cannot fill their session; a new request on it is still served (issue 14)', async (t) => {
  const { app, session, requests, opened } = await sessionWithStreams(t, 10)
  for (const request of requests) request.pause() // the client reads none of them
  // 1.5 MB to each stream: Node would count 15 MB against the session (its limit: 10 MB).
  await burst(app, 10, 1.5e6)
  t.equal(await statusOf(session, '/ping'), 200, 'the session still takes a new request')
  // Half of the session's 10 MB for event streams: three take 1.5 MB each, the fourth would not
  // fit, and the streams before it hold only what Node took: it is dropped, and the six after it.
  t.same(opened.map((s) => s.signal.aborted), [false, false, false, true, true, true, true, true, true, true])
  const dropped = opened.filter((s) => s.signal.aborted)
  t.same(await within(Promise.all(dropped.map((s) => s.closed)), 'the dropped streams to end'), dropped.map(() => 'slow'))
  t.equal(app.sse.stats().dropped, 7)
})

test('HTTP/2: the budget follows the server\'s maxSessionMemory', async (t) => {
  const { app, session, requests, opened } = await sessionWithStreams(t, 10, { maxSessionMemory: 20 })
  for (const request of requests) request.pause()
  await burst(app, 10, 1.5e6)
  t.equal(await statusOf(session, '/ping'), 200)
  t.equal(opened.filter((s) => s.signal.aborted).length, 4, 'six fit in half of 20 MB')
})

test('HTTP/2: a session whose dropped streams left too much with Node is closed gracefully, so its client moves to a new one', async (t) => {
  const { app, session, requests, opened } = await sessionWithStreams(t, 3)
  for (const request of requests) request.pause()
  const goaway = once(session, 'goaway')
  await burst(app, 3, 1.5e6)
  t.equal(app.sse.stats().dropped, 0, 'what fits in the session goes out')
  // Now each is more than maxBufferedBytes behind: dropped as slow, their 4.5 MB still counted by Node.
  await burst(app, 3, 64 * 1024)
  t.same(await within(Promise.all(opened.map((s) => s.closed)), 'the streams to end'), ['slow', 'slow', 'slow'])
  const [code] = await within(goaway, 'GOAWAY') as [number]
  t.equal(code, 0, 'NGHTTP2_NO_ERROR: a graceful close')
})

test('HTTP/2: streams the server closes while their client is not reading count as left with Node too', async (t) => {
  const { app, session, requests, opened } = await sessionWithStreams(t, 3)
  for (const request of requests) request.pause()
  const goaway = once(session, 'goaway')
  await burst(app, 3, 1.5e6)
  for (const stream of opened) stream.close()
  t.same(await within(Promise.all(opened.map((s) => s.closed)), 'the streams to end'), ['server', 'server', 'server'])
  await within(goaway, 'GOAWAY')
  t.equal(app.sse.stats().dropped, 0)
})

test('HTTP/2: a burst larger than the session budget reaches a lone stream that reads', async (t) => {
  const { app, requests, opened } = await sessionWithStreams(t, 1)
  const received = eventCounter(requests[0])
  await burst(app, 1, 6e6)
  await received(Math.ceil(6e6 / (64 * 1024)))
  t.equal(opened[0].signal.aborted, false)
  t.equal(app.sse.stats().dropped, 0)
})

test('HTTP/2: what a stream already delivered does not count against its session', async (t) => {
  const { app, requests, opened } = await sessionWithStreams(t, 2)
  const received = requests.map(eventCounter)
  const events = Math.ceil(3e6 / (64 * 1024))
  await burst(app, 1, 3e6) // to the first stream only
  await received[0](events)
  // 3 MB to the second stream: it fits, as the first has sent what it held.
  const data = 'y'.repeat(64 * 1024)
  for (let i = 0; i < events; i++) await app.sse.publish({ event: 'big', data, topic: '1' })
  await received[1](events)
  t.same(opened.map((s) => s.signal.aborted), [false, false])
})
