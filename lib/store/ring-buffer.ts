// A fixed-capacity circular buffer: the newest `capacity` items, oldest first. No I/O.
// Slots grow by doubling up to the next power of two, so a topic that sees few events
// costs little, and indexes wrap with a mask instead of shifting.

export class RingBuffer<T> {
  readonly capacity: number
  private slots: Array<T | undefined>
  private mask: number
  private head = 0 // index of the oldest item
  private count = 0

  constructor (capacity: number) {
    this.capacity = capacity
    this.slots = new Array(Math.min(8, nextPowerOfTwo(capacity)))
    this.mask = this.slots.length - 1
  }

  get length (): number {
    return this.count
  }

  /** Adds `item`; returns the item it pushed out when full, else `undefined`. */
  push (item: T): T | undefined {
    if (this.count === this.slots.length && this.slots.length < this.capacity) this.grow()
    if (this.count < this.capacity) {
      this.slots[(this.head + this.count) & this.mask] = item
      this.count++
      return undefined
    }
    const evicted = this.slots[this.head]
    this.slots[this.head] = undefined
    this.head = (this.head + 1) & this.mask
    this.slots[(this.head + this.count - 1) & this.mask] = item
    return evicted
  }

  /** The item `index` places after the oldest (0 = oldest). */
  at (index: number): T | undefined {
    return index >= 0 && index < this.count ? this.slots[(this.head + index) & this.mask] : undefined
  }

  private grow (): void {
    const next = new Array<T | undefined>(this.slots.length * 2)
    for (let i = 0; i < this.count; i++) next[i] = this.slots[(this.head + i) & this.mask]
    this.slots = next
    this.mask = next.length - 1
    this.head = 0
  }
}

function nextPowerOfTwo (n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}
