// Data on the wire is what the schema checked (issue 14): schemas JSON cannot carry are refused
// at registration.
import { test } from 'tap'
import Fastify from 'fastify'
import { Type, type TSchema } from '@sinclair/typebox'
import fastifySse from '../lib/index'

async function registerWith (events: Record<string, TSchema>): Promise<(Error & { code?: string }) | undefined> {
  const app = Fastify()
  try {
    await app.register(fastifySse, { events })
    await app.ready()
    return undefined
  } catch (err) {
    return err as Error
  } finally {
    await app.close()
  }
}

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
    const err = await registerWith({ ok: Type.String(), bad: schema })
    t.equal(err?.code, 'FST_SSE_INVALID_OPTION', where)
    t.match(err?.message, `option "events.bad" declares ${where} which JSON cannot carry: `, where)
    t.match(err?.message, instead, where)
  }
})

test('optional properties and schemas that only exclude a kind register', async (t) => {
  t.equal(await registerWith({
    a: Type.Object({ title: Type.Optional(Type.String()), notADate: Type.Not(Type.Date()) }),
    b: Type.Recursive((This) => Type.Object({ children: Type.Array(This) }))
  }), undefined)
})
