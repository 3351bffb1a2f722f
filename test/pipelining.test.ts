// HTTP/1.1 pipelining: streams queued behind another response on the same connection. Node
// reports a closed connection only to the response that has the socket, so the plugin watches
// the socket for the others: no stream without a live client.
import { test } from 'tap'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { HandlerGate, listen } from './helpers/app'
import type { SseCloseReason, SseStream } from '../lib/index'
import { within } from './helpers/within'

/** A connection that sends pipelined GETs and keeps every byte that comes back. */
class PipelinedConnection {
  readonly socket: Socket
  received = ''
  private waiters: Array<() => void> = []

  constructor (port: number) {
    this.socket = connect(port, '127.0.0.1')
    this.socket.on('data', (chunk: Buffer) => {
      this.received += chunk.toString('latin1')
      for (const wake of this.waiters.splice(0)) wake()
    })
    this.socket.on('error', () => {})
  }

  async send (paths: string[]): Promise<void> {
    if (this.socket.connecting) await once(this.socket, 'connect')
    this.socket.write(paths.map((path) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`).join(''))
  }

  /** Resolves once `text` has arrived; rejects after 5 s. */
  async receives (text: string): Promise<void> {
    while (!this.received.includes(text)) {
      await within(new Promise<void>((resolve) => this.waiters.push(resolve)), JSON.stringify(text))
    }
  }
}

/** Collects the streams a route opens; `all` resolves once there are `count`. */
class Opened {
  readonly streams: SseStream[] = []
  readonly all: Promise<void>
  private done = (): void => {}

  constructor (private readonly count: number) {
    this.all = within(new Promise((resolve) => { this.done = resolve }), `${count} streams to open`)
  }

  add (stream: SseStream): void {
    if (this.streams.push(stream) === this.count) this.done()
  }
}

test('pipelined streams leave with their connection: none stays registered without a client', async (t) => {
  const perConnection = 20
  const connections = 3
  const opened = new Opened(perConnection * connections)
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => { opened.add(reply.sse()) })
  })
  const clients = Array.from({ length: connections }, () => new PipelinedConnection(port))
  await Promise.all(clients.map((client) => client.send(Array(perConnection).fill('/events'))))
  await opened.all
  t.equal(app.sse.stats().connections, connections, 'one stream per connection is live; the rest wait their turn')
  t.equal(app.sse.count(), connections)

  const { id } = await app.sse.publish({ event: 'e', data: 1 })
  for (const client of clients) {
    await client.receives(`id: ${id}\n`)
    t.equal(client.received.split('HTTP/1.1 200').length - 1, 1, 'only the first response of a connection has gone out')
  }

  for (const client of clients) client.socket.destroy()
  const reasons = await within(Promise.all(opened.streams.map((stream) => stream.closed)), 'every stream to end')
  t.same(new Set(reasons), new Set<SseCloseReason>(['client']))
  t.has(app.sse.stats(), { connections: 0, published: 1, dropped: 0 })
  t.equal(app.sse.count(), 0)
})

test('a pipelined stream joins when the response before it ends, from the newest id', async (t) => {
  const opened = new Opened(2)
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => { opened.add(reply.sse()) })
  })
  const client = new PipelinedConnection(port)
  t.teardown(() => client.socket.destroy())
  await client.send(['/events', '/events'])
  await opened.all
  const [first, second] = opened.streams
  const before = await app.sse.publish({ event: 'before', data: 1 })
  await client.receives('event: before')
  t.equal(app.sse.stats().connections, 1)

  first.close()
  t.equal(await first.closed, 'server')
  await client.receives('\r\n0\r\n\r\nHTTP/1.1 200 OK')
  const after = await app.sse.publish({ event: 'after', data: 2 })
  await client.receives(`id: ${after.id}\n`)
  const [firstResponse, secondResponse] = client.received.split('\r\n0\r\n\r\n')
  t.match(firstResponse, `id: ${before.id}\nevent: before\ndata: 1\n`)
  t.notMatch(firstResponse, 'event: after')
  t.match(secondResponse, new RegExp(`id: ${before.id}\\n\\n[^]*id: ${after.id}\\nevent: after\\ndata: 2\\n`), 'primed with the newest id, then live')
  t.notMatch(secondResponse, 'event: before', 'nothing from before its turn')
  t.equal(app.sse.stats().connections, 1)
  second.close()
  t.equal(await second.closed, 'server')
})

test('a pipelined stream whose connection closed before reply.sse() is never registered', async (t) => {
  const gate = new HandlerGate()
  const first = new Opened(1)
  const late = new Opened(1)
  const { app, port } = await listen(t, {}, (app) => {
    app.get('/events', (_request, reply) => { first.add(reply.sse()) })
    app.get('/later', async (_request, reply) => {
      await gate.pass()
      late.add(reply.sse())
    })
  })
  const client = new PipelinedConnection(port)
  await client.send(['/events', '/later'])
  await gate.reached
  client.socket.destroy()
  await first.all
  t.equal(await first.streams[0].closed, 'client')
  gate.open()
  await late.all
  t.equal(await late.streams[0].closed, 'client')
  t.equal(late.streams[0].signal.aborted, true)
  t.has(app.sse.stats(), { connections: 0, published: 0, dropped: 0 })
})
