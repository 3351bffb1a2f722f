import { test, type Test } from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { ServerResponse } from 'node:http'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'
import type { FastifyInstance } from 'fastify'
import type { SseStream } from '../lib/index'

/** Resolves once `count()` reaches `n`: the server has opened that many streams. */
async function untilOpened (count: () => number, n: number): Promise<void> {
  while (count() < n) await new Promise((resolve) => setTimeout(resolve, 5))
}

/**
 * A client that never reads, opened first (so a fan-out reaches its stream, and drops it, before
 * the other's), and one that reads; heartbeats off, so only the test writes.
 */
async function stalledThenReader (t: Test, maxBufferedBytes: number): Promise<{ app: FastifyInstance, stalled: RawSseClient, reader: RawSseClient, stalledStream: SseStream, stalledRaw: ServerResponse, readerStream: SseStream }> {
  const opened: Array<{ stream: SseStream, raw: ServerResponse }> = []
  const { app, port } = await listen(t, { maxBufferedBytes, heartbeat: 0 }, (app) => {
    app.get('/events', (_request, reply) => { opened.push({ stream: reply.sse(), raw: reply.raw }) })
  })
  const stalled = new RawSseClient(port, '/events', {}, { read: false })
  t.teardown(() => stalled.close())
  await untilOpened(() => opened.length, 1)
  const reader = new RawSseClient(port, '/events')
  t.teardown(() => reader.close())
  await reader.until(() => reader.items.length > 0, 'the reading client to open')
  return { app, stalled, reader, stalledStream: opened[0].stream, stalledRaw: opened[0].raw, readerStream: opened[1].stream }
}

test('a client that stops reading is dropped at maxBufferedBytes; the others get everything', async (t) => {
  const maxBufferedBytes = 64 * 1024
  const { app, stalled: slow, reader: fast, stalledStream: slowStream, stalledRaw: slowRaw, readerStream: fastStream } = await stalledThenReader(t, maxBufferedBytes)

  const payload = 'x'.repeat(16 * 1024)
  const perTurn = 8
  const batchBytes = perTurn * (payload.length + 64)
  let maxBacklog = 0
  const total = 1600 // 25 MB in all: far more than the kernel buffers of the stalled socket
  for (let i = 0; i < total; i++) {
    await app.sse.publish({ event: 'big', data: { i, payload } })
    if (i % perTurn === perTurn - 1) {
      await nextTurn()
      if (!slowStream.signal.aborted) maxBacklog = Math.max(maxBacklog, slowRaw.writableLength)
      await fast.until(() => fast.events.length > i - 64, `the fast client to keep up (${i})`, 10_000)
    }
  }
  t.equal(await slowStream.closed, 'slow')
  // The bound is the limit plus what is written in one turn of the event loop; here a turn holds
  // up to two of the test's bursts (its setImmediate runs before the hub's in the same phase).
  t.ok(maxBacklog <= maxBufferedBytes + 2 * batchBytes, `the stalled client's backlog stayed bounded (max ${maxBacklog} bytes)`)
  await fast.eventCount(total, 20_000)
  t.same(fast.events.map((e) => JSON.parse(e.data).i), Array.from({ length: total }, (_, i) => i), 'the fast client got every event in order')
  t.equal(fastStream.signal.aborted, false)
  t.has(app.sse.stats(), { connections: 1, published: total, dropped: 1 })
  slow.socket.resume()
  await slow.closed(10_000)
  t.ok(slow.events.length < total, `the stalled client was cut off after ${slow.events.length} events`)
})

test('a stalled client on several topics is dropped mid-burst too, bounded', async (t) => {
  const maxBufferedBytes = 32 * 1024
  const opened: Array<{ stream: SseStream, raw: ServerResponse }> = []
  const { app, port } = await listen(t, { maxBufferedBytes }, (app) => {
    app.get('/events', (_request, reply) => { opened.push({ stream: reply.sse({ topics: ['a', 'b'] }), raw: reply.raw }) })
  })
  const slow = new RawSseClient(port, '/events', {}, { read: false })
  t.teardown(() => slow.close())
  await untilOpened(() => opened.length, 1)
  const [{ stream, raw }] = opened
  const payload = 'y'.repeat(8 * 1024)
  let maxBacklog = 0
  for (let turn = 0; turn < 400 && !stream.signal.aborted; turn++) {
    for (let i = 0; i < 16; i++) await app.sse.publish({ event: 'big', data: payload, topic: i % 2 === 0 ? 'a' : 'b' })
    await nextTurn()
    maxBacklog = Math.max(maxBacklog, raw.writableLength)
  }
  t.equal(await stream.closed, 'slow')
  t.ok(maxBacklog <= maxBufferedBytes + 2 * 16 * (8 * 1024 + 256), `backlog bounded by the limit plus one turn of events (max ${maxBacklog})`)
  t.equal(app.sse.stats().dropped, 1)
})

test('a replay larger than maxBufferedBytes, followed by a send, reaches a client that reads', async (t) => {
  const { app, port } = await listen(t, { maxBufferedBytes: 16 * 1024, history: 1000 }, (app) => {
    app.get('/events', (_request, reply) => { reply.sse().send({ event: 'welcome', data: 'after the replay' }) })
  })
  const first = await app.sse.publish({ event: 'big', data: 0 })
  for (let i = 1; i <= 200; i++) await app.sse.publish({ event: 'big', data: { i, pad: 'z'.repeat(1500) } })
  const client = new RawSseClient(port, '/events', { 'Last-Event-ID': first.id })
  t.teardown(() => client.close())
  await client.eventCount(201, 10_000)
  t.equal(client.events.at(-1)?.type, 'welcome')
  t.equal(app.sse.stats().dropped, 0, '300 KB of replay did not count as a stalled client')
})

test('a send from the abort listener of a client dropped mid-flush comes after the events published before it', async (t) => {
  const { app, reader, stalledStream, readerStream } = await stalledThenReader(t, 16 * 1024)
  let lastPublished = -1
  stalledStream.signal.addEventListener('abort', () => {
    readerStream.send({ event: 'note', data: { after: lastPublished } })
  })
  const payload = 'p'.repeat(8 * 1024)
  for (let i = 0; i < 2000 && !stalledStream.signal.aborted; i++) {
    lastPublished = i
    await app.sse.publish({ event: 'big', data: { i, payload } })
    if (i % 4 === 3) await nextTurn()
  }
  t.equal(await stalledStream.closed, 'slow')
  await reader.until(() => reader.events.some((e) => e.type === 'note'), 'the note')
  const note = reader.events.findIndex((e) => e.type === 'note')
  const { after } = JSON.parse(reader.events[note].data)
  const before = reader.events.slice(0, note).map((e) => JSON.parse(e.data).i)
  t.same(before, Array.from({ length: after + 1 }, (_, i) => i), `every event up to ${after} arrived before the note`)
})

test('a stream ended in the same fan-out is aborted once user code can see it', async (t) => {
  const opened: SseStream[] = []
  const { app, port } = await listen(t, { maxBufferedBytes: 16 * 1024, heartbeat: 0 }, (app) => {
    app.get('/events', (_request, reply) => { opened.push(reply.sse()) })
  })
  const stalled = [0, 1, 2].map(() => new RawSseClient(port, '/events', {}, { read: false }))
  t.teardown(() => { for (const c of stalled) c.close() })
  await untilOpened(() => opened.length, 3)
  const seen: string[] = []
  for (const s of opened) {
    s.signal.addEventListener('abort', () => {
      for (const other of opened) {
        if (other === s) continue
        // The usual guard: a stream not aborted is assumed open.
        if (!other.signal.aborted) {
          try { other.comment('x') } catch (err) { seen.push(`comment threw ${(err as { code: string }).code} on a stream whose signal is not aborted`) }
        }
        if (!other.signal.aborted) {
          other.close()
          if (!other.signal.aborted) seen.push('signal.aborted false right after close() returned')
        }
      }
    })
  }
  const payload = 'p'.repeat(8 * 1024)
  for (let i = 0; i < 2000 && !opened.every((s) => s.signal.aborted); i++) {
    await app.sse.publish({ event: 'big', data: { i, payload } })
    if (i % 4 === 3) await nextTurn()
  }
  t.same(seen, [], 'no stream observed ended-but-not-aborted')
})

test('a send from an abort listener does not overtake the send whose flush dropped the client', async (t) => {
  const { app, reader, stalledStream, readerStream } = await stalledThenReader(t, 16 * 1024)
  let sending = -1 // the mark whose send() is in progress
  stalledStream.signal.addEventListener('abort', () => {
    readerStream.send({ event: 'note', data: { during: sending } })
  })
  const payload = 'p'.repeat(8 * 1024)
  for (let i = 0; i < 2000 && !stalledStream.signal.aborted; i++) {
    await app.sse.publish({ event: 'big', data: { i, payload } })
    sending = i
    readerStream.send({ event: 'mark', data: { i } }) // flushes event i first, then writes the mark
    sending = -1
    if (i % 4 === 3) await nextTurn()
  }
  await reader.until(() => reader.events.some((e) => e.type === 'note'), 'the note')
  const note = reader.events.findIndex((e) => e.type === 'note')
  const { during } = JSON.parse(reader.events[note].data)
  t.not(during, -1, 'the client was dropped inside a send()')
  await reader.until(() => reader.events.some((e) => e.type === 'mark' && JSON.parse(e.data).i === during), 'the mark')
  t.ok(reader.events.findIndex((e) => e.type === 'mark' && JSON.parse(e.data).i === during) < note,
    `mark ${during}, sent first, arrives before the note sent from inside its send() (got ${reader.events.slice(Math.max(0, note - 2), note + 3).map((e) => e.type).join(',')})`)
})
