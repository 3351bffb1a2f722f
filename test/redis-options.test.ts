// `redisStore()` options, checked when the store is created; and a store used before it is
// open. No Redis needed: these run everywhere.
import { test } from 'tap'
import { Cluster, Redis } from 'ioredis'
import { redisStore } from '../lib/redis'
import { RecordingContext } from './helpers/redis-context'

const invalid = (message: RegExp): { code: string, message: RegExp } => ({ code: 'FST_SSE_INVALID_OPTION', message })

test('exactly one of url or client', async (t) => {
  t.throws(() => redisStore(undefined as never), invalid(/"redisStore" takes an object/))
  t.throws(() => redisStore([] as never), invalid(/"redisStore" takes an object/))
  t.throws(() => redisStore({} as never), invalid(/needs exactly one of `url`.*or `client`/))
  const client = new Redis({ lazyConnect: true })
  t.throws(() => redisStore({ url: 'redis://127.0.0.1', client } as never), invalid(/needs exactly one/))
})

test('url: a redis:// or rediss:// URL', async (t) => {
  for (const url of ['redis://127.0.0.1:6379', 'rediss://user:secret@example.com:6380/2', 'redis://localhost']) {
    t.doesNotThrow(() => redisStore({ url }), url)
  }
  for (const url of [42, '', 'http://127.0.0.1:6379', '127.0.0.1:6379', 'redis://[::1']) {
    t.throws(() => redisStore({ url } as never), invalid(/"redisStore.url" must be a redis:\/\/ or rediss:\/\/ URL/), String(url))
  }
})

test('client: an ioredis client or Cluster', async (t) => {
  const methods = { duplicate () {}, evalsha () {}, script () {}, xread () {} }
  for (const client of [null, 'redis', { status: 'ready' }, { ...methods, isCluster: true }]) {
    t.throws(() => redisStore({ client } as never), invalid(/"redisStore.client" must be an ioredis client \(new Redis\(\.\.\.\) or new Redis\.Cluster\(\[\.\.\.\]\)\)/), JSON.stringify(client))
  }
  t.doesNotThrow(() => redisStore({ client: new Redis({ lazyConnect: true }) }))
  t.doesNotThrow(() => redisStore({ client: new Cluster([{ host: '127.0.0.1', port: 6379 }], { lazyConnect: true }) }))
})

test('keyPrefix, timeout, logLength, and nothing else', async (t) => {
  const url = 'redis://127.0.0.1:6379'
  t.doesNotThrow(() => redisStore({ url, keyPrefix: 'app:sse', timeout: 1, logLength: 1 }))
  for (const keyPrefix of ['', 7, null, 'app\ud800']) t.throws(() => redisStore({ url, keyPrefix } as never), invalid(/"redisStore.keyPrefix" must be a non-empty string/))
  t.throws(() => redisStore({ url, keyPrefix: '}app' }), invalid(/"redisStore.keyPrefix" must not start with `}`: keys are `\{<keyPrefix>\}:\.\.\.`/))
  for (const keyPrefix of ['{app}', 'a}b', '{', 'app:sse']) t.doesNotThrow(() => redisStore({ url, keyPrefix }), keyPrefix)
  for (const timeout of [0, 1.5, '5000', 1_073_741_824, null]) {
    t.throws(() => redisStore({ url, timeout } as never), invalid(/"redisStore.timeout" must be an integer from 1 to 1073741823/), String(timeout))
  }
  t.throws(() => redisStore({ url, logLength: null } as never), invalid(/"redisStore.logLength" must be an integer from 1/))
  t.throws(() => redisStore({ url, logLength: 0 }), invalid(/"redisStore.logLength" must be an integer from 1/))
  t.throws(() => redisStore({ url, keyprefix: 'x' } as never), invalid(/"redisStore.keyprefix" is not an option of redisStore \(known: url, client, keyPrefix, timeout, logLength\)/))
})

test('a store that is not open refuses to work, and closes quietly', async (t) => {
  const store = redisStore({ url: 'redis://127.0.0.1:6379' })
  t.throws(() => store.newestId(), { code: 'FST_SSE_STORE_ERROR' })
  await t.rejects(store.append('x', 'n', '1'), { code: 'FST_SSE_STORE_ERROR', cause: { message: /the Redis connection is not open/ } })
  await t.rejects(async () => store.replay(['x'], { lastEventId: 'a-1' }), { code: 'FST_SSE_STORE_ERROR' })
  await store.close()
  await t.rejects(store.open(new RecordingContext(1).context()), invalid(/"store" is already used by another app/), 'and cannot be opened once used')
})
