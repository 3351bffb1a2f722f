// A fixed-capacity circular buffer: the newest `capacity` items, oldest first. No I/O.
// Slots grow by doubling up to the next power of two, so a topic that sees few events
// costs little, shrink by halving once three quarters are empty, and indexes wrap with
// a mask instead of shifting.

const MIN_SLOTS = 8

export class RingBuffer<T> {
  readonly capacity: number
  private slots: Array<T | undefined>
  private mask: number
  private head = 0 // index of the oldest item
  private count = 0

  constructor (capacity: number) {
    this.capacity = capacity
    this.slots = new Array(Math.min(MIN_SLOTS, nextPowerOfTwo(capacity)))
    this.mask = this.slots.length - 1
  }

  get length (): number {
    return this.count
  }

  /** Adds `item`; returns the item it pushed out when full, else `undefined`. */
  push (item: T): T | undefined {
    if (this.count === this.slots.length && this.slots.length < this.capacity) this.resize(this.slots.length * 2)
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

  /** Removes and returns the oldest item (`undefined` when empty). */
  shift (): T | undefined {
    if (this.count === 0) return undefined
    const oldest = this.slots[this.head]
    this.slots[this.head] = undefined
    this.head = (this.head + 1) & this.mask
    this.count--
    // A buffer trimmed by age or budget gives its slots back, so a topic that once held
    // `capacity` items and now holds one does not keep the larger array.
    if (this.slots.length > MIN_SLOTS && this.count * 4 <= this.slots.length) this.resize(this.slots.length / 2)
    return oldest
  }

  /** The item `index` places after the oldest (0 = oldest). */
  at (index: number): T | undefined {
    return index >= 0 && index < this.count ? this.slots[(this.head + index) & this.mask] : undefined
  }

  /**
   * The index of the first item for which `isPast` holds, by binary search: `isPast` must be
   * false for some oldest items and true for all after them. `length` when it holds for none.
   */
  firstIndex (isPast: (item: T) => boolean): number {
    let low = 0
    let high = this.count
    while (low < high) {
      const middle = (low + high) >>> 1
      if (isPast(this.slots[(this.head + middle) & this.mask] as T)) high = middle
      else low = middle + 1
    }
    return low
  }

  /** A copy of the items from `index` to the newest. */
  slice (index: number): T[] {
    const items: T[] = []
    for (let i = Math.max(0, index); i < this.count; i++) items.push(this.slots[(this.head + i) & this.mask] as T)
    return items
  }

  private resize (size: number): void {
    const next = new Array<T | undefined>(size)
    for (let i = 0; i < this.count; i++) next[i] = this.slots[(this.head + i) & this.mask]
    this.slots = next
    this.mask = size - 1
    this.head = 0
  }
}

function nextPowerOfTwo (n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}
