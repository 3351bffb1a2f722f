import { test } from 'tap'
import { RingBuffer } from '../../lib/store/ring-buffer'

function contents<T> (ring: RingBuffer<T>): T[] {
  const items: T[] = []
  for (let i = 0; i < ring.length; i++) items.push(ring.at(i) as T)
  return items
}

test('keeps the newest `capacity` items, oldest first, and returns what it evicts', async (t) => {
  const ring = new RingBuffer<number>(3)
  t.equal(ring.push(1), undefined)
  t.equal(ring.push(2), undefined)
  t.equal(ring.push(3), undefined)
  t.equal(ring.push(4), 1)
  t.equal(ring.push(5), 2)
  t.same(contents(ring), [3, 4, 5])
  t.equal(ring.at(-1), undefined)
  t.equal(ring.at(3), undefined)
})

test('grows by doubling up to a capacity that is not a power of two', async (t) => {
  const ring = new RingBuffer<number>(1000)
  const evicted: number[] = []
  for (let i = 1; i <= 2500; i++) {
    const out = ring.push(i)
    if (out !== undefined) evicted.push(out)
  }
  t.equal(ring.length, 1000)
  t.equal(evicted.length, 1500)
  t.same(evicted.slice(0, 3), [1, 2, 3])
  t.same(contents(ring), Array.from({ length: 1000 }, (_, i) => 1501 + i))
})

test('capacity one', async (t) => {
  const ring = new RingBuffer<string>(1)
  ring.push('a')
  t.equal(ring.push('b'), 'a')
  t.same(contents(ring), ['b'])
})
