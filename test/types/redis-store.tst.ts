import { expect, test } from 'tstyche'
import { Cluster, Redis } from 'ioredis'
import { redisStore, type SseRedisStoreOptions, type SseStore } from '../../lib/redis'

test('redisStore() takes a url, an ioredis client or an ioredis Cluster', () => {
  expect(redisStore({ url: 'redis://127.0.0.1:6379', keyPrefix: 'app' })).type.toBe<SseStore>()
  expect(redisStore({ client: new Redis() })).type.toBe<SseStore>()
  expect(redisStore({ client: new Cluster([{ host: '127.0.0.1', port: 7000 }]), keyPrefix: 'app', timeout: 1000 })).type.toBe<SseStore>()
  expect<SseRedisStoreOptions>().type.toBeAssignableFrom({ client: new Redis.Cluster([]) })
})

test('one of url or client, and a client is an ioredis one', () => {
  expect(redisStore).type.not.toBeCallableWith({ url: 'redis://127.0.0.1:6379', client: new Redis() })
  expect(redisStore).type.not.toBeCallableWith({})
  expect(redisStore).type.not.toBeCallableWith({ client: { status: 'ready' } })
})
