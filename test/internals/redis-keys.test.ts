// The Redis store's key names: one hash slot for all of a store's keys, whatever braces its
// prefix and its topics hold (the slot as ioredis' Cluster client computes it to route a key).
import { test } from 'tap'
import { Command } from 'ioredis'
import { redisKeys } from '../../lib/store/redis-keys'

function slot (key: string): number {
  return new Command('get', [key]).getSlot()
}

test('every key of a store is in the slot of its prefix\'s hash tag', async (t) => {
  const topics = ['x', '{x}', '}', '{', '{}', 'a{b}c', '}{', 'user:42']
  for (const prefix of ['sse', 'app:sse', '{app}', '{', 'a{b', 'a}b', 'a{}b', '{}', '{{', 'a}}', 'é{ü}']) {
    const keys = redisKeys(prefix)
    const slots = new Set([keys.meta, keys.log, keys.checkpoints, ...topics.map((topic) => keys.history + topic)].map(slot))
    t.equal(slots.size, 1, `prefix ${prefix}`)
  }
  t.same(redisKeys('sse'), { meta: '{sse}:meta', log: '{sse}:log', checkpoints: '{sse}:checkpoints', history: '{sse}:history:' })
  t.equal(slot(redisKeys('sse').meta), slot('sse'), 'the hash tag is the prefix')
  t.equal(slot(redisKeys('a}b').meta), slot('a'), 'up to its first `}`')
})
