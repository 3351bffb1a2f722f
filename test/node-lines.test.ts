// What differs between the Node.js lines CI runs (20, 22, 24), pinned per line so that a change
// in Node is noticed, and the plugin's behaviour that depends on it checked on every line.
import { test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer as createHttp2Server, connect as connectHttp2, type ServerHttp2Session } from 'node:http2'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifySse, { type SseStream } from '../lib/index'
import { HandlerGate, listen } from './helpers/app'
import { childEnv } from './helpers/child-env'
import { within } from './helpers/within'

const major = Number(process.versions.node.split('.')[0])

interface Line {
  /** Does an HTTP/2 server's close() close its open sessions (graceful GOAWAY)? */
  serverClosesHttp2Sessions: boolean
  /** How Node offers its own EventSource: a global, a global behind --experimental-eventsource, or not at all. */
  eventSource: 'global' | 'flag' | 'none'
}

/** The lines CI runs, as seen on 20.20, 22.23 and 24.22 (and 26.12: still behind the flag). */
const LINES: Record<number, Line> = {
  20: { serverClosesHttp2Sessions: false, eventSource: 'flag' },
  22: { serverClosesHttp2Sessions: false, eventSource: 'flag' },
  24: { serverClosesHttp2Sessions: true, eventSource: 'flag' }
}
const line: Line | undefined = LINES[major]
const untested = line === undefined ? `Node ${major} is not a line CI runs (${Object.keys(LINES).join(', ')})` : false

/** Runs `node [flags] -e script` from the repository (so `fastify-sse-hub` resolves to the build). */
function node (args: string[]) {
  const child = spawn(process.execPath, ['--no-warnings', ...args], { cwd: join(__dirname, '..'), env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const lines: string[] = []
  let wake = () => {}
  createInterface({ input: child.stdout }).on('line', (text) => { lines.push(text); wake() })
  let done = false
  const exited = once(child, 'exit').then(([code]) => { done = true; wake(); return code as number | null })
  /** Resolves with the first line that `check` accepts; rejects after `timeoutMs` or at exit. */
  const until = async (check: (text: string) => boolean, what: string, timeoutMs = 5000): Promise<string> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = lines.find(check)
      if (found !== undefined) return found
      const left = deadline - Date.now()
      if (done || left <= 0) throw new Error(`${done ? 'exited' : 'timed out'} waiting for ${what}; stdout ${JSON.stringify(lines)}, stderr ${stderr}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        wake = () => { clearTimeout(timer); resolve() }
      })
    }
  }
  return { child, lines, until, exited, stderr: () => stderr }
}

test(`Node ${major}: an HTTP/2 server's close() closes its open sessions from Node 24 on, not before`, { skip: untested }, async (t) => {
  const server = createHttp2Server()
  const sessions: ServerHttp2Session[] = []
  server.on('session', (session) => sessions.push(session))
  server.on('stream', (stream) => { stream.respond({ ':status': 200 }); stream.write(':\n') }) // stays open
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const client = connectHttp2(`http://127.0.0.1:${(server.address() as AddressInfo).port}`).on('error', () => {})
  t.teardown(() => client.destroy())
  const request = client.request({ ':path': '/' }).on('error', () => {})
  await once(request, 'response')
  const closed = once(server, 'close')
  server.close()
  t.equal(sessions.length, 1)
  // close() closes them at once when it does: no waiting decides it.
  t.equal(sessions[0].closed, line?.serverClosesHttp2Sessions, `Node ${major}: server.close() ${line?.serverClosesHttp2Sessions === true ? 'closes' : 'leaves open'} an HTTP/2 session with an open stream`)
  client.destroy()
  await closed
})

test('every line: app.close() with an open HTTP/2 event stream is prompt, and the plugin closes its session itself', async (t) => {
  const streams: SseStream[] = []
  const app = Fastify({ http2: true }) as unknown as FastifyInstance
  await app.register(fastifySse)
  app.get('/events', (_request, reply) => { streams.push(reply.sse()) })
  const serverSessions: ServerHttp2Session[] = []
  app.server.on('session', (session: ServerHttp2Session) => serverSessions.push(session))
  // Runs after the plugin's own preClose, before Fastify closes the server (which on Node 24
  // would close the session too): what it sees is the plugin's doing, on every line.
  let closedByPlugin: boolean | undefined
  app.addHook('preClose', async () => { closedByPlugin = serverSessions[0]?.closed })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const client = connectHttp2(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`).on('error', () => {})
  t.teardown(() => client.destroy())
  const goaway = once(client, 'goaway')
  const request = client.request({ ':path': '/events' }).on('error', () => {})
  request.resume()
  await once(request, 'response')
  const started = process.hrtime.bigint()
  await app.close()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.ok(ms < 1000, `closed in ${ms.toFixed(0)} ms`)
  t.equal(closedByPlugin, true, 'the session was closed in preClose, before the server closed')
  t.equal(await streams[0].closed, 'shutdown')
  await within(goaway, 'GOAWAY')
  t.pass('the client was told to go away')
  if (!client.closed) await within(once(client, 'close'), 'the client session to close')
  t.ok(serverSessions[0].destroyed, 'the server session is gone')
})

test(`Node ${major}: its own EventSource is a global only with --experimental-eventsource`, { skip: untested }, async (t) => {
  const plain = node(['-p', 'typeof globalThis.EventSource'])
  const flagged = node(['--experimental-eventsource', '-p', 'typeof globalThis.EventSource'])
  t.equal(await plain.exited, 0)
  t.equal(await flagged.exited, 0, flagged.stderr())
  const seen = plain.lines[0] === 'function' ? 'global' : flagged.lines[0] === 'function' ? 'flag' : 'none'
  t.equal(seen, line?.eventSource, `Node ${major}: typeof EventSource is ${plain.lines[0]}, and ${flagged.lines[0]} with the flag`)
})

test('every line: the client over Node\'s own global EventSource reconnects with Last-Event-ID and misses nothing', { skip: line?.eventSource === 'none' ? `Node ${major} has no EventSource of its own` : false }, async (t) => {
  const streams: SseStream[] = []
  const lastEventIds: Array<string | undefined> = []
  const reconnect = new HandlerGate()
  const { app, url } = await listen(t, { retry: 10, heartbeat: 0 }, (app) => {
    app.get('/events', async (request, reply) => {
      lastEventIds.push(request.headers['last-event-id'] as string | undefined)
      if (streams.length > 0) await reconnect.pass() // held until the event it missed is published
      streams.push(reply.sse())
    })
  })
  // No EventSource option: the client takes globalThis.EventSource, Node's own.
  const script = `
    import { SseClient } from 'fastify-sse-hub/client'
    if (typeof globalThis.EventSource !== 'function') throw new Error('no global EventSource')
    const client = new SseClient(${JSON.stringify(`${url}/events`)}, { backoff: { maxRetries: 0 } })
    // Node's EventSource holds no handle while it waits to reconnect: keep the process up.
    const alive = setInterval(() => {}, 60_000)
    const print = (value) => console.log(JSON.stringify(value))
    client.onState(({ state }) => { print({ state }); if (state === 'closed') clearInterval(alive) })
    client.onReset((reset) => print({ reset }))
    client.onError((error) => print({ error: error.message }))
    client.on('message', (data, event) => {
      print({ data, id: event.lastEventId })
      if (data === 'missed') client.close()
    })
  `
  const flags = line?.eventSource === 'global' ? [] : ['--experimental-eventsource']
  const child = node([...flags, '--input-type=module', '-e', script])
  t.teardown(() => { child.child.kill() })
  await child.until((text) => text === '{"state":"open"}', 'open')
  const first = await app.sse.publish({ event: 'message', data: 'first' })
  await child.until((text) => text.includes('"first"'), 'the first event')
  streams[0].close()
  // EventSource comes back by itself, with the id of the last event it received.
  const exitedEarly = child.exited.then(() => { throw new Error(`the client exited before reconnecting: ${child.stderr()}`) })
  exitedEarly.catch(() => {}) // it exits at the end too
  await Promise.race([within(reconnect.reached, 'the reconnect'), exitedEarly])
  const missed = await app.sse.publish({ event: 'message', data: 'missed' })
  reconnect.open()
  t.equal(await within(child.exited, 'the client to close and exit'), 0, child.stderr())
  t.same(lastEventIds, [undefined, first.id], 'the reconnect sent Last-Event-ID')
  t.same(child.lines.map((text) => JSON.parse(text)), [
    { state: 'open' },
    { data: 'first', id: first.id },
    { state: 'reconnecting' },
    { state: 'open' },
    { data: 'missed', id: missed.id },
    { state: 'closed' }
  ], 'the missed event replayed, once, and nothing else')
})
