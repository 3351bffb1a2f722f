import { test } from 'tap'
import { Type } from '@sinclair/typebox'
import { EventSource } from 'undici'
import { listen } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'

test('a published event reaches a raw client as WHATWG frames', async (t) => {
  const { app, port } = await listen(t, { events: { note: Type.Object({ text: Type.String() }) } })
  const client = new RawSseClient(port, '/events')
  t.teardown(() => client.close())
  await client.until(() => client.items.some((i) => i.kind === 'id-only'), 'the priming frame')
  const { id } = await app.sse.publish({ event: 'note', data: { text: 'line 1\nline 2' } })
  await client.eventCount(1)
  t.same(client.events, [{ type: 'note', data: '{"text":"line 1\\nline 2"}', lastEventId: id }])
  t.ok(client.body.endsWith(`id: ${id}\nevent: note\ndata: {"text":"line 1\\nline 2"}\n\n`))
})

test('undici EventSource receives named events', async (t) => {
  const { app, url } = await listen(t)
  const source = new EventSource(`${url}/events`)
  t.teardown(() => source.close())
  await new Promise((resolve) => { source.onopen = resolve })
  const received = new Promise<MessageEvent>((resolve) => source.addEventListener('greeting', (event) => resolve(event as MessageEvent)))
  const { id } = await app.sse.publish({ event: 'greeting', data: { hello: 'world' } })
  const event = await received
  t.equal(event.data, '{"hello":"world"}')
  t.equal(event.lastEventId, id)
})

test('tricky payloads read back the same through the spec parser and EventSource', async (t) => {
  const { app, port, url } = await listen(t)
  const payloads: unknown[] = [
    'line 1\nline 2', 'crlf\r\nand cr\ralone', '\n', '', ' leading space', 'data: looks like a field',
    'nul\0inside', 'unicode ✓ ünïcödé 🎉', 'separators\u2028\u2029', { nested: { list: [1, null, 'a\nb'] } }, 0, false, null
  ]
  const raw = new RawSseClient(port, '/events')
  t.teardown(() => raw.close())
  await raw.until(() => raw.items.length > 0, 'the priming frame')
  const source = new EventSource(`${url}/events`)
  t.teardown(() => source.close())
  await new Promise((resolve) => { source.onopen = resolve })
  const viaEventSource: string[] = []
  const done = new Promise<void>((resolve) => {
    source.addEventListener('tricky', (event) => {
      viaEventSource.push((event as MessageEvent).data)
      if (viaEventSource.length === payloads.length) resolve()
    })
  })
  for (const data of payloads) await app.sse.publish({ event: 'tricky', data })
  await raw.eventCount(payloads.length)
  await done
  const expected = payloads.map((p) => JSON.stringify(p))
  t.same(raw.events.map((e) => e.data), expected)
  t.same(viaEventSource, expected)
  t.same(raw.events.map((e) => JSON.parse(e.data)), payloads)
})
