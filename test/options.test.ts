import { test } from 'tap'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import fastifySse from '../lib/index'
import { MemoryStore } from '../lib/store/memory-store'
import { registrationError } from './helpers/app'

test('valid options register, including zero history, zero retry and Fastify register options', async (t) => {
  t.equal(await registrationError({}), undefined)
  t.equal(await registrationError({ history: 0, retry: 0, heartbeat: 0, maxBufferedBytes: 1, historyMaxAge: 0, historyMaxBytes: 0 }), undefined)
  t.equal(await registrationError({ events: { a: Type.Object({}) }, logLevel: 'warn', logSerializers: {} }), undefined)
  t.equal(await registrationError({ store: new MemoryStore() }), undefined)
  t.equal(await registrationError({ shutdownSpread: 0 }), undefined)
  // The longest delay sent, retry + shutdownSpread - 1, is the longest a browser timer takes.
  t.equal(await registrationError({ retry: 2 ** 31 - 2, shutdownSpread: 2 }), undefined)
  t.equal(await registrationError({ retry: 2 ** 31 - 1 }), undefined, 'the default spread fits in what retry leaves')
})

test('wrong types, ranges and unknown keys fail register with FST_SSE_INVALID_OPTION naming the option', async (t) => {
  const cases: Array<[unknown, string]> = [
    [{ hearbeat: 1000 }, 'hearbeat'],
    [{ history: -1 }, 'history'],
    [{ history: 1.5 }, 'history'],
    [{ history: '10' }, 'history'],
    [{ history: 16_777_217 }, 'history'],
    [{ heartbeat: 2 ** 31 }, 'heartbeat'],
    [{ heartbeat: Number.NaN }, 'heartbeat'],
    [{ retry: -5 }, 'retry'],
    [{ retry: null }, 'retry'],
    [{ shutdownSpread: -1 }, 'shutdownSpread'],
    [{ shutdownSpread: 1.5 }, 'shutdownSpread'],
    [{ shutdownSpread: '5s' }, 'shutdownSpread'],
    [{ shutdownSpread: null }, 'shutdownSpread'],
    [{ shutdownSpread: 2 ** 31 + 1 }, 'shutdownSpread'],
    [{ retry: 2 ** 31 - 2, shutdownSpread: 3 }, 'shutdownSpread'],
    [{ history: null }, 'history'],
    [{ heartbeat: null }, 'heartbeat'],
    [{ maxBufferedBytes: null }, 'maxBufferedBytes'],
    [{ historyMaxAge: -1 }, 'historyMaxAge'],
    [{ historyMaxAge: '1h' }, 'historyMaxAge'],
    [{ historyMaxBytes: 1.5 }, 'historyMaxBytes'],
    [{ historyMaxBytes: null }, 'historyMaxBytes'],
    [{ events: new Map([['a', Type.String()]]) }, 'events'],
    [{ events: new Date() }, 'events'],
    [{ events: { a: Type.Unsafe({ type: 'object' }) } }, 'events.a'],
    [{ maxBufferedBytes: 0 }, 'maxBufferedBytes'],
    [{ events: [] }, 'events'],
    [{ events: null }, 'events'],
    [{ events: { a: { type: 'string' } } }, 'events.a'],
    [{ events: { '': Type.String() } }, 'events'],
    [{ events: { 'a\nb': Type.String() } }, 'events'],
    [{ events: { 'tick\ud800': Type.String() } }, 'events'],
    [{ events: { 'sse-reset': Type.Object({}) } }, 'events'],
    [{ store: {} }, 'store'],
    [{ store: null }, 'store'],
    [{ store: { open () {}, append () {}, newestId () {}, replay () {} } }, 'store']
  ]
  for (const [options, name] of cases) {
    const err = await registrationError(options) as Error & { code: string }
    t.equal(err?.code, 'FST_SSE_INVALID_OPTION', `${JSON.stringify(options)} is refused`)
    t.match(err?.message, `option "${name}"`, `the message names ${name}`)
    t.match(err?.message, /^fastify-sse-hub: /)
  }
})

test('a registration that fails (another plugin has reply.sse) never opens the store', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.decorateReply('sse', (() => {}) as never) // as another SSE plugin would
  let opened = 0
  const store = new MemoryStore()
  const open = store.open.bind(store)
  store.open = async (context) => { opened++; return open(context) }
  await t.rejects(async () => { await app.register(fastifySse, { store }) }, { code: 'FST_ERR_DEC_ALREADY_PRESENT' })
  t.equal(opened, 0, 'nothing to leak: the store was never opened')
})

test('options must be an object', async (t) => {
  const { resolveOptions } = await import('../lib/options')
  t.throws(() => resolveOptions(null), { code: 'FST_SSE_INVALID_OPTION' })
  t.throws(() => resolveOptions([]), { code: 'FST_SSE_INVALID_OPTION' })
})

test('registering twice on one app fails with a clear error', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifySse)
  await t.rejects(async () => { await app.register(fastifySse) }, { code: 'FST_SSE_ALREADY_REGISTERED', message: /already registered/ })
})

test('registered at the root, the decorators are visible inside every plugin', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifySse)
  let seen: unknown
  await app.register(async function sibling (instance) { seen = instance.sse })
  await app.ready()
  t.equal(seen, app.sse)
  t.type(app.sse.publish, 'function')
})
