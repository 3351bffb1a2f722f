import { test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import Fastify from 'fastify'
import fastifySse from '../lib/index'
import { listen } from './helpers/app'
import { childEnv } from './helpers/child-env'
import { RawSseClient } from './helpers/raw-client'

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

test('idle streams receive heartbeat comments', async (t) => {
  const { port } = await listen(t, { heartbeat: 20 })
  const client = new RawSseClient(port, '/events')
  t.teardown(() => client.close())
  await client.until(() => client.comments.length >= 2, 'two heartbeats')
  t.same(client.comments.slice(0, 2), ['', ''], 'a bare `:` comment')
  t.equal(client.events.length, 0, 'heartbeats dispatch no event')
})

test('no stream stays silent longer than heartbeat, and an idle one gets one comment per period', async (t) => {
  const heartbeat = 300
  const { app, port } = await listen(t, { heartbeat })
  const client = new RawSseClient(port, '/events')
  t.teardown(() => client.close())
  await client.until(() => client.comments.length >= 1, 'a first heartbeat')
  // Right after a tick: a hub that skips streams written to since its last tick would stay
  // silent for almost two periods after this event.
  await app.sse.publish({ event: 'e', data: 1 })
  await client.until(() => client.events.length === 1, 'the event')
  const eventAt = Date.now()
  const comments = client.comments.length
  await client.until(() => client.comments.length > comments, 'the next heartbeat', 5 * heartbeat)
  const silence = Date.now() - eventAt
  t.ok(silence < 1.5 * heartbeat, `silent for ${silence} ms after the event (heartbeat ${heartbeat})`)
  const from = client.comments.length
  await new Promise((resolve) => setTimeout(resolve, 4 * heartbeat))
  const more = client.comments.length - from
  t.ok(more >= 3 && more <= 5, `${more} comments in 4 periods of silence`)
})

test('one timer for all streams, not one per connection', async (t) => {
  const { port } = await listen(t, { heartbeat: 10_000 })
  const first = new RawSseClient(port, '/events')
  t.teardown(() => first.close())
  await first.until(() => first.items.length > 0, 'the first stream')
  const before = timers()
  const clients = Array.from({ length: 50 }, () => new RawSseClient(port, '/events'))
  t.teardown(() => { for (const c of clients) c.close() })
  await Promise.all(clients.map((c) => c.until(() => c.items.length > 0, 'priming')))
  t.equal(timers(), before, '50 more streams added no timer')
})

test('heartbeat 0 creates no timer', async (t) => {
  const before = timers()
  const app = Fastify()
  await app.register(fastifySse, { heartbeat: 0 })
  await app.ready()
  t.equal(timers(), before)
  await app.close()
})

test('the heartbeat timer never holds the process open', async (t) => {
  const child = spawn(process.execPath, [join(__dirname, 'fixtures', 'idle-app.js')], { stdio: ['ignore', 'pipe', 'inherit'], env: childEnv() })
  const killer = setTimeout(() => child.kill(), 10_000)
  let out = ''
  child.stdout.on('data', (chunk) => { out += chunk })
  const [code] = await once(child, 'exit')
  clearTimeout(killer)
  t.equal(out, 'ready\n')
  t.equal(code, 0, 'exited by itself though a 60 s heartbeat is set')
})
