// Reconnect storms (issue 13.4): many streams whose replays a store answers at once — one
// answer for all, as the Redis store gives the identical ones — start spread over turns of the
// event loop, each with its whole replay, then the live events that waited, once and in order.
import { test } from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import { HeldReplayStore } from './helpers/held-replay-store'
import type { SseStream } from '../lib/index'

test('streams answered together start over several turns, each with its replay, then the live events', async (t) => {
  const store = new HeldReplayStore(true)
  const streams: SseStream[] = []
  const { app, port } = await listen(t, { store, heartbeat: 0, history: 1000, maxBufferedBytes: 64 << 20 }, (app) => {
    app.get('/events', (_request, reply) => { streams.push(reply.sse()) })
  })
  const data = 'x'.repeat(1000)
  const first = await app.sse.publish({ event: 'e', data: 0 })
  for (let i = 1; i <= 100; i++) await app.sse.publish({ event: 'e', data: `${i} ${data}` })
  const count = 200
  const clients = Array.from({ length: count }, () => new RawSseClient(port, '/events', { 'Last-Event-ID': first.id }))
  t.teardown(() => { for (const client of clients) client.close() })
  const deadline = Date.now() + 10_000
  while (store.asked < count && Date.now() < deadline) await nextTurn()
  t.equal(store.asked, count, 'every stream asked for its replay')
  // Delivered while the streams wait for their answer: it follows each one's replay.
  const live = await app.sse.publish({ event: 'e', data: 'live' })

  store.release()
  // The answers resolve in the microtasks after this; then the event loop takes a turn.
  await nextTurn()
  const startedInFirstTurn = clients.filter((c) => c.response !== undefined || c.socket.readableLength > 0).length
  const pending = (streams as unknown as Array<{ starting: boolean }>).filter((s) => s.starting).length
  t.ok(pending > 0, `the event loop took a turn before every stream had started (${pending} of ${count} still starting)`)
  t.ok(pending < count, `some started in the first turn (${count - pending}; ${startedInFirstTurn} clients saw bytes already)`)

  await Promise.all(clients.map((c) => c.eventCount(101, 10_000)))
  // Each event's number (its data is JSON text), checked whole below.
  const expected = [...Array.from({ length: 100 }, (_, i) => `${i + 1}`), 'live']
  for (const client of clients) {
    const received = client.events.map((e) => JSON.parse(e.data) as string)
    t.ok(received.every((d) => d === 'live' || d.endsWith(` ${data}`)), 'every event whole')
    t.same(received.map((d) => d.split(' ')[0]), expected, 'its replay, then the live event, once each')
    t.equal(client.events.at(-1)?.lastEventId, live.id)
  }
})
