// Rolling deploys (issue 13.5): at app.close() each stream is sent `retry:` with its own delay in
// [retry, retry + shutdownSpread) just before it ends, so its clients come back spread out.
import { test, type Test } from 'tap'
import { connect as connectHttp2 } from 'node:http2'
import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { HeldReplayStore } from './helpers/held-replay-store'
import { ShutdownSpread } from '../lib/shutdown-spread'
import type { SseStream } from '../lib/index'

/** The `retry:` values a client received after its first frame (the one it opened with). */
function retriesAfterOpening (client: RawSseClient): number[] {
  return client.items.slice(1).filter((i) => i.kind === 'retry').map((i) => i.retry as number)
}

/** Opens `count` raw clients on `/events` and waits for each one's first frame. */
async function openClients (t: Test, port: number, count: number, path = '/events'): Promise<RawSseClient[]> {
  const clients = Array.from({ length: count }, () => new RawSseClient(port, path))
  t.teardown(() => { for (const c of clients) c.close() })
  await Promise.all(clients.map((c) => c.until(() => c.items.length > 0, 'the first frame')))
  return clients
}

/** Resolves once `count` streams are open (the stalled and HTTP/2 clients have no frame to await). */
async function connections (app: FastifyInstance, count: number): Promise<void> {
  const deadline = Date.now() + 5000
  while (app.sse.stats().connections < count) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} streams`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

async function closeTimed (app: FastifyInstance): Promise<number> {
  const started = process.hrtime.bigint()
  await app.close()
  return Number(process.hrtime.bigint() - started) / 1e6
}

test('each stream ends with a retry: of its own in [retry, retry + shutdownSpread), the last thing it receives', async (t) => {
  const { app, port } = await listen(t, { retry: 1000, shutdownSpread: 3000 })
  const clients = await openClients(t, port, 200)
  await app.close()
  await Promise.all(clients.map((c) => c.closed()))
  const delays: number[] = []
  for (const client of clients) {
    t.match(client.body, /^retry: 1000\nid: \S+\n\nretry: \d+\n\n$/, 'the opening frame, then one retry frame, then the end')
    const [delay] = retriesAfterOpening(client)
    delays.push(delay)
  }
  t.ok(delays.every((d) => Number.isInteger(d) && d >= 1000 && d < 4000), `every delay in [1000, 4000): ${Math.min(...delays)}..${Math.max(...delays)}`)
  // 200 draws over 3000 ms: all in one tenth of the window would be a broken random source.
  t.ok(new Set(delays).size > 100, `the delays differ across streams (${new Set(delays).size} distinct)`)
  t.ok(Math.max(...delays) - Math.min(...delays) > 1500, 'and cover the window')
})

test('without retry the delays are in [0, shutdownSpread); the default spread is 5000 ms', async (t) => {
  const { app, port } = await listen(t)
  const clients = await openClients(t, port, 50)
  await app.close()
  await Promise.all(clients.map((c) => c.closed()))
  const delays = clients.map((c) => retriesAfterOpening(c))
  t.ok(delays.every((d) => d.length === 1 && d[0] >= 0 && d[0] < 5000), 'one retry each, in [0, 5000)')
  t.ok(new Set(delays.map((d) => d[0])).size > 1, 'not all the same')
})

test('shutdownSpread: 0 turns it off: no retry frame at close', async (t) => {
  const { app, port } = await listen(t, { retry: 1000, shutdownSpread: 0 })
  const clients = await openClients(t, port, 5)
  await app.close()
  await Promise.all(clients.map((c) => c.closed()))
  for (const client of clients) t.match(client.body, /^retry: 1000\nid: \S+\n\n$/, 'only the opening frame')
})

test('private streams (topics: []) are spread too, and events published before close still come first', async (t) => {
  const { app, port } = await listen(t, { shutdownSpread: 2000 }, (app) => {
    app.get('/private', (_request, reply) => { reply.sse({ topics: [] }).send({ event: 'hello', data: 1 }) })
    app.get('/events', (_request, reply) => reply.sse())
  })
  const own = await openClients(t, port, 3, '/private')
  const shared = await openClients(t, port, 3)
  await app.sse.publish({ event: 'late', data: 2 })
  await app.close()
  await Promise.all([...own, ...shared].map((c) => c.closed()))
  for (const client of own) {
    t.match(client.body, /^event: hello\ndata: 1\n\nretry: \d+\n\n$/, 'a private stream: its message, then its retry')
  }
  for (const client of shared) {
    t.match(client.body, /^id: \S+\n\nid: \S+\nevent: late\ndata: 2\n\nretry: \d+\n\n$/, 'the event published before close, then the retry')
  }
})

test('a stream still starting at close (its replay in flight) opens, gets its spread retry and ends', async (t) => {
  const store = new HeldReplayStore()
  const opened: SseStream[] = []
  const { app, port } = await listen(t, { store, retry: 500, shutdownSpread: 1000 }, (app) => {
    app.get('/events', (_request, reply) => { opened.push(reply.sse()) })
    // Runs after the plugin's own preClose: the replay answers once every stream has ended.
    app.addHook('preClose', async () => { store.release() })
  })
  const client = new RawSseClient(port, '/events', { 'Last-Event-ID': 'x-1' })
  t.teardown(() => client.close())
  await store.firstAsked
  t.equal(client.response, undefined, 'nothing sent yet: the replay is in flight')
  await app.close()
  await client.closed()
  t.equal(await opened[0].closed, 'shutdown')
  t.equal(client.response?.status, 200)
  t.match(client.body, /^retry: 500\n\nretry: \d+\n\n$/, 'its opening retry, then its own')
  const [delay] = retriesAfterOpening(client)
  t.ok(delay >= 500 && delay < 1500, `in [500, 1500): ${delay}`)
})

test('a stalled client is cut without its retry frame; close() stays prompt and the others get theirs', async (t) => {
  const streams: SseStream[] = []
  const { app, port } = await listen(t, { heartbeat: 0, shutdownSpread: 5000, maxBufferedBytes: 64 << 20 }, (app) => {
    app.get('/events', (_request, reply) => { streams.push(reply.sse()) })
  })
  const reading = await openClients(t, port, 20)
  const stalled = new RawSseClient(port, '/events', {}, { read: false })
  t.teardown(() => stalled.close())
  await connections(app, 21)
  // More than loopback's socket buffers hold, so the server keeps a backlog for it.
  for (let i = 0; i < 200; i++) {
    await app.sse.publish({ event: 'big', data: 'x'.repeat(64 * 1024) })
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  const ms = await closeTimed(app)
  t.ok(ms < 1000, `closed in ${ms.toFixed(0)} ms`)
  await Promise.all(reading.map((c) => c.closed()))
  t.ok(reading.every((c) => retriesAfterOpening(c).length === 1), 'every reading client got its retry')
  t.same(new Set(await Promise.all(streams.map((s) => s.closed))), new Set(['shutdown']), 'the stalled stream ended too')
  stalled.socket.resume() // reads what reached it: a cut connection, without the retry frame
  await stalled.closed(10_000)
  t.ok(stalled.events.length < 200, `cut short: ${stalled.events.length} of 200 events`)
  t.notMatch(stalled.body, /retry:/)
})

test('HTTP/2: each stream ends with its own retry frame', async (t) => {
  const { app, url } = await listen(t, { shutdownSpread: 4000 }, undefined, { http2: true })
  const session = connectHttp2(url).on('error', () => {})
  t.teardown(() => session.destroy())
  const requests = Array.from({ length: 20 }, () => session.request({ ':path': '/events' }))
  const bodies = requests.map((request) => {
    let body = ''
    request.setEncoding('utf8').on('data', (chunk: string) => { body += chunk })
    return once(request, 'end').then(() => body)
  })
  await Promise.all(requests.map((r) => once(r, 'response')))
  await connections(app, 20)
  const ms = await closeTimed(app)
  t.ok(ms < 1000, `closed in ${ms.toFixed(0)} ms`)
  const delays = (await Promise.all(bodies)).map((body) => {
    const match = /^id: \S+\n\nretry: (\d+)\n\n$/.exec(body)
    t.ok(match, `ends with one retry frame: ${JSON.stringify(body)}`)
    return Number(match?.[1])
  })
  t.ok(delays.every((d) => d >= 0 && d < 4000), 'in [0, 4000)')
  t.ok(new Set(delays).size > 1, 'not all the same')
})

test('ShutdownSpread: whole delays from retry up to retry + spread - 1, none when off', async (t) => {
  t.equal(new ShutdownSpread(undefined, 0).frame(), undefined)
  t.equal(new ShutdownSpread(3000, 0).frame(), undefined)
  t.equal(new ShutdownSpread(undefined, 100, () => 0).frame(), 'retry: 0\n\n')
  t.equal(new ShutdownSpread(3000, 100, () => 0.5).frame(), 'retry: 3050\n\n')
  t.equal(new ShutdownSpread(3000, 100, () => 1 - 2 ** -53).frame(), 'retry: 3099\n\n')
  t.equal(new ShutdownSpread(2 ** 31 - 2, 2, () => 1 - 2 ** -53).frame(), `retry: ${2 ** 31 - 1}\n\n`, 'the largest a browser timer takes')
})
