import { test } from 'tap'
import { ConcurrencyLimit } from '../../lib/store/concurrency-limit'

test('at most `max` tasks run at once, the others in the order they came; a failed task frees its slot', async (t) => {
  const limit = new ConcurrencyLimit(2)
  let running = 0
  let most = 0
  const started: number[] = []
  const finish: Array<() => void> = []
  const tasks = Array.from({ length: 5 }, (_, i) => limit.run(async () => {
    started.push(i)
    most = Math.max(most, ++running)
    await new Promise<void>((resolve) => finish.push(resolve))
    running--
    if (i === 1) throw new Error('task 1 failed')
    return i
  }))
  const outcome = Promise.allSettled(tasks)
  for (let round = 0; round < 5; round++) {
    await new Promise((resolve) => setImmediate(resolve))
    finish.shift()?.()
  }
  const settled = await outcome
  t.equal(most, 2)
  t.same(started, [0, 1, 2, 3, 4])
  t.same(settled.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'])
  t.equal(await limit.run(async () => 'free again'), 'free again')
})
