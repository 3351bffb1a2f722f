// The concurrent publisher of the bench (publishWindowed): never more than `window` publishes in
// flight, the next one as soon as one resolves, every one awaited, the first failure reported.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as delay } from 'node:timers/promises'
import { burst, parseBurst, publishWindowed } from '../common/server-kit.mjs'

test('keeps at most `window` publishes in flight and awaits them all', async () => {
  let inFlight = 0
  let peak = 0
  let done = 0
  const count = await publishWindowed(8, (i) => i < 100, async (i) => {
    peak = Math.max(peak, ++inFlight)
    await delay(i % 3)
    inFlight--
    done++
  })
  assert.equal(count, 100)
  assert.equal(done, 100)
  assert.equal(peak, 8)
})

test('starts the next publish as soon as one resolves', async () => {
  const resolvers = []
  const running = publishWindowed(2, (i) => i < 3, () => new Promise((resolve) => resolvers.push(resolve)))
  await delay(5)
  assert.equal(resolvers.length, 2)
  resolvers[1]()
  await delay(5)
  assert.equal(resolvers.length, 3)
  resolvers[0]()
  resolvers[2]()
  assert.equal(await running, 3)
})

test('rejects with the first failure, after the publishes in flight settle', async () => {
  let settled = 0
  const failure = new Error('Redis is down')
  await assert.rejects(publishWindowed(4, (i) => i < 50, async (i) => {
    await delay(1)
    settled++
    if (i === 10) throw failure
  }), failure)
  assert.ok(settled < 50, 'stops starting publishes after a failure')
})

test('burst() takes the window from the trigger query (?w=)', async () => {
  assert.deepEqual(parseBurst({ n: '10', s: '64', w: '200' }), { n: 10, size: 64, from: 0, window: 200 })
  assert.deepEqual(parseBurst({ n: '10', s: '64' }), { n: 10, size: 64, from: 0 })
  assert.throws(() => parseBurst({ n: '10', s: '64', w: '0' }), /w must be/)
  const seen = []
  const result = await burst({ n: 5, size: 8, from: 100, window: 2 }, (seq) => { seen.push(seq); return Promise.resolve() })
  assert.deepEqual(seen, [100, 101, 102, 103, 104])
  assert.equal(result.window, 2)
})
