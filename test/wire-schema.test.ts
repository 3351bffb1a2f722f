// Data on the wire is what the schema checked (issue 14): the JSON written carries only what the
// schema declares, a value whose JSON would not match is refused, and schemas JSON cannot carry
// are refused at registration.
import { test, type Test } from 'tap'
import { Type, type TSchema } from '@sinclair/typebox'
import { TypeSystemPolicy } from '@sinclair/typebox/system'
import type { SseStream } from '../lib/index'
import { listen, registrationError } from './helpers/app'
import { RawSseClient } from './helpers/raw-client'

const Item = Type.Object({ sku: Type.String(), qty: Type.Integer({ minimum: 1 }) })
const events = {
  'user-count': Type.Object({ count: Type.Integer({ minimum: 0 }) }),
  order: Type.Object({ id: Type.String(), customer: Type.Object({ name: Type.String() }), items: Type.Array(Item), note: Type.Optional(Type.String()) }),
  stamped: Type.Object({ at: Type.String(), price: Type.Object({ amount: Type.Integer(), currency: Type.String() }) }),
  closed: Type.Object({ id: Type.String(), inner: Type.Object({ a: Type.Number() }) }, { additionalProperties: false }),
  counts: Type.Record(Type.String(), Type.Object({ n: Type.Integer() })),
  shape: Type.Union([
    Type.Object({ kind: Type.Literal('circle'), r: Type.Number() }),
    Type.Object({ kind: Type.Literal('rect'), w: Type.Number(), h: Type.Number() })
  ]),
  invoice: Type.Object({ lines: Type.Array(Type.Number()), total: Type.Number() }),
  meta: Type.Object({ value: Type.Any(), n: Type.Optional(Type.Number()) })
}

/** An app on `events` whose /events route hands each stream to the test, and one client on it. */
async function withClient (t: Test) {
  const streams: SseStream[] = []
  const ctx = await listen(t, { events }, (app) => {
    app.get('/events', (_request, reply) => { streams.push(reply.sse()) })
  })
  const client = new RawSseClient(ctx.port, '/events')
  t.teardown(() => client.close())
  await client.until(() => client.parser.lastEventId !== '', 'the priming frame')
  return { ...ctx, client, stream: streams[0] }
}

/** Publishes each message; returns the data of every event the client received, as written. */
async function published (t: Test, messages: Array<{ event: string, data: unknown }>): Promise<string[]> {
  const { app, client } = await withClient(t)
  for (const message of messages) await app.sse.publish(message as never)
  await client.eventCount(messages.length)
  return client.events.map((e) => e.data)
}

test('properties the schema does not declare are not sent, nested ones neither', async (t) => {
  t.same(await published(t, [
    { event: 'user-count', data: { count: 3, admin: true } },
    { event: 'order', data: { secret: 's', items: [{ sku: 'a', qty: 1, cost: 0.2 }], customer: { name: 'Ada', password: 'p' }, id: 'o1', note: undefined } }
  ]), [
    '{"count":3}',
    '{"id":"o1","customer":{"name":"Ada"},"items":[{"sku":"a","qty":1}]}'
  ])
})

test('a toJSON() that makes the data fail its schema is refused: nothing published, nothing sent', async (t) => {
  const { app, client, stream } = await withClient(t)
  const sneaky = { count: 3, toJSON: () => ({ count: 'not a number', admin: true }) }
  await t.rejects(app.sse.publish({ event: 'user-count', data: sneaky } as never), { code: 'FST_SSE_INVALID_DATA', message: /event "user-count": \/count: Expected integer/ })
  const nested = { id: 'o1', customer: { name: 'Ada' }, items: [{ sku: 'a', qty: 1, toJSON: () => ({ sku: 'a', qty: 0 }) }] }
  await t.rejects(app.sse.publish({ event: 'order', data: nested } as never), { code: 'FST_SSE_INVALID_DATA', message: /event "order": \/items\/0\/qty: / })
  t.throws(() => stream.send({ event: 'user-count', data: sneaky } as never), { code: 'FST_SSE_INVALID_DATA', message: /\/count/ })
  t.equal(app.sse.stats().published, 0)
  await app.sse.publish({ event: 'user-count', data: { count: 1 } } as never)
  await client.eventCount(1)
  t.same(client.events.map((e) => e.data), ['{"count":1}'], 'only the valid event was written')
})

test('a toJSON() whose JSON matches the schema is sent as JSON writes it (a Date for a string)', async (t) => {
  class Money {
    constructor (readonly cents: number) {}
    toJSON () { return { amount: this.cents, currency: 'EUR', rate: 1 } }
  }
  t.same(await published(t, [{ event: 'stamped', data: { at: new Date(0), price: new Money(250) } }]), [
    '{"at":"1970-01-01T00:00:00.000Z","price":{"amount":250,"currency":"EUR"}}'
  ])
})

test('additionalProperties: false still refuses undeclared properties; its nested objects drop theirs', async (t) => {
  const { app } = await withClient(t)
  await t.rejects(app.sse.publish({ event: 'closed', data: { id: 'c', inner: { a: 1 }, extra: 1 } } as never), { code: 'FST_SSE_INVALID_DATA', message: /\/extra: Unexpected property/ })
  t.same(await published(t, [{ event: 'closed', data: { id: 'c', inner: { a: 1, b: 2 } } }]), ['{"id":"c","inner":{"a":1}}'])
})

test('Type.Record keeps its keys and projects its values', async (t) => {
  t.same(await published(t, [{ event: 'counts', data: { alice: { n: 1, x: 0 }, bob: { n: 2 } } }]), ['{"alice":{"n":1},"bob":{"n":2}}'])
})

test('a union of objects sends the properties of the member that matches', async (t) => {
  t.same(await published(t, [
    { event: 'shape', data: { kind: 'rect', w: 1, h: 2, r: 3, color: 'red' } },
    { event: 'shape', data: { kind: 'circle', r: 3, w: 1 } }
  ]), ['{"kind":"rect","w":1,"h":2}', '{"kind":"circle","r":3}'])
})

test('send() follows the same rule as publish()', async (t) => {
  const { client, stream } = await withClient(t)
  stream.send({ event: 'order', data: { id: 'o1', customer: { name: 'Ada', password: 'p' }, items: [], internal: 1 } } as never)
  await client.eventCount(1)
  t.same(client.events.map((e) => e.data), ['{"id":"o1","customer":{"name":"Ada"},"items":[]}'])
})

test('a value JSON would change is checked as JSON writes it: getters sent, NaN refused, an undefined required property refused', async (t) => {
  class Invoice {
    readonly lines = [1, 2]
    readonly cache = new Map()
    get total (): number { return this.lines.reduce((a, b) => a + b, 0) }
  }
  t.same(await published(t, [{ event: 'invoice', data: new Invoice() }]), ['{"lines":[1,2],"total":3}'])
  const { app } = await withClient(t)
  const allowNaN = TypeSystemPolicy.AllowNaN
  TypeSystemPolicy.AllowNaN = true
  t.teardown(() => { TypeSystemPolicy.AllowNaN = allowNaN })
  await t.rejects(app.sse.publish({ event: 'invoice', data: { lines: [NaN], total: 1 } } as never), { code: 'FST_SSE_INVALID_DATA', message: /\/lines\/0: Expected number/ }, 'NaN is written as null')
  await t.rejects(app.sse.publish({ event: 'meta', data: { value: undefined } } as never), { code: 'FST_SSE_INVALID_DATA', message: /\/value: Expected required property/ }, 'JSON leaves undefined out')
  await t.rejects(app.sse.publish({ event: 'meta', data: { value: 1n } } as never), { code: 'FST_SSE_INVALID_DATA', message: /not JSON-serialisable \(.*BigInt/ })
  const failing = { value: 1, toJSON () { throw new Error('no JSON today') } }
  await t.rejects(app.sse.publish({ event: 'meta', data: failing } as never), { code: 'FST_SSE_INVALID_DATA', message: /"meta": not JSON-serialisable \(no JSON today\)/ })
  t.equal(app.sse.stats().published, 0)
})

test('a schema kind JSON cannot carry fails register, naming the event, the path and what to use instead', async (t) => {
  const cases: Array<[TSchema, string, RegExp]> = [
    [Type.Date(), 'Type.Date() at /,', /use Type\.String\(\) and send date\.toISOString\(\)/],
    [Type.Object({ orders: Type.Array(Type.Object({ at: Type.Date() })) }), 'Type.Date() at /orders/*/at,', /toISOString/],
    [Type.Object({ bytes: Type.Uint8Array() }), 'Type.Uint8Array() at /bytes,', /contentEncoding: 'base64'/],
    [Type.Object({ gone: Type.Optional(Type.Undefined()) }), 'Type.Undefined() at /gone,', /Type\.Optional\(\.\.\.\)/],
    [Type.Object({ nothing: Type.Optional(Type.Void()) }), 'Type.Void() at /nothing,', /Type\.Null\(\)/],
    [Type.Array(Type.Function([], Type.String())), 'Type.Function() at /*,', /send data, not code/],
    [Type.Tuple([Type.String(), Type.Constructor([], Type.Object({}))]), 'Type.Constructor() at /1,', /send data, not code/],
    [Type.Object({ name: Type.Union([Type.String(), Type.Symbol()]) }), 'Type.Symbol() at /name,', /symbol\.description/],
    [Type.Intersect([Type.Object({ a: Type.String() }), Type.Object({ n: Type.BigInt() })]), 'Type.BigInt() at /n,', /value\.toString\(\)/],
    [Type.Record(Type.String(), Type.Promise(Type.String())), 'Type.Promise() at /*,', /await it/],
    [Type.Object({}, { additionalProperties: Type.Iterator(Type.String()) }), 'Type.Iterator() at /*,', /Type\.Array/],
    [Type.Recursive((This) => Type.Object({ next: Type.Optional(This), feed: Type.AsyncIterator(Type.String()) })), 'Type.AsyncIterator() at /feed,', /one event per item/],
    [Type.Module({ A: Type.Object({ v: Type.Void() }) }).Import('A'), 'Type.Void() at /$defs/A/v,', /Type\.Optional/]
  ]
  for (const [schema, where, instead] of cases) {
    const err = await registrationError({ events: { ok: Type.String(), bad: schema } })
    t.equal(err?.code, 'FST_SSE_INVALID_OPTION', where)
    t.match(err?.message, `option "events.bad" declares ${where} which JSON cannot carry: `, where)
    t.match(err?.message, instead, where)
  }
  t.equal(await registrationError({
    events: {
      a: Type.Object({ title: Type.Optional(Type.String()), notADate: Type.Not(Type.Date()) }),
      b: Type.Recursive((This) => Type.Object({ children: Type.Array(This) }))
    }
  }), undefined, 'optional properties and schemas that only exclude such a kind register')
})
