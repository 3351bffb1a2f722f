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
