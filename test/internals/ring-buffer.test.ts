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

test('shift takes the oldest, and a buffer three quarters empty gives half its slots back', async (t) => {
  const ring = new RingBuffer<number>(64)
  t.equal(ring.shift(), undefined)
  for (let i = 1; i <= 40; i++) ring.push(i)
  const slotsOf = (): number => (ring as unknown as { slots: unknown[] }).slots.length
  t.equal(slotsOf(), 64)
  for (let i = 1; i <= 23; i++) t.equal(ring.shift(), i)
  t.equal(slotsOf(), 64, 'more than a quarter full: kept')
  t.equal(ring.shift(), 24)
  t.equal(slotsOf(), 32, 'a quarter full: halved')
  while (ring.length > 1) ring.shift()
  t.equal(slotsOf(), 8, 'never below the starting size')
  t.same(contents(ring), [40])
  for (let i = 41; i <= 100; i++) ring.push(i)
  t.same(contents(ring), Array.from({ length: 61 }, (_, i) => 40 + i), 'grows again after shrinking, wrapped or not')
})

test('firstIndex finds the first item past a point by binary search, wrapped or not', async (t) => {
  const ring = new RingBuffer<number>(10)
  t.equal(ring.firstIndex((n) => n > 0), 0, 'empty')
  for (let i = 1; i <= 17; i++) ring.push(i * 10) // holds 80..170, wrapped
  t.equal(ring.firstIndex((n) => n > 0), 0)
  t.equal(ring.firstIndex((n) => n > 80), 1)
  t.equal(ring.firstIndex((n) => n > 125), 5)
  t.equal(ring.firstIndex((n) => n > 160), 9)
  t.equal(ring.firstIndex((n) => n > 170), 10, 'none: the length')
})
