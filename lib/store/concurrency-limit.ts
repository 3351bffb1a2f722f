// At most `max` tasks at once; the others wait their turn, first come first served.
export class ConcurrencyLimit {
  private readonly max: number
  private running = 0
  private readonly waiting: Array<() => void> = []

  constructor (max: number) {
    this.max = max
  }

  async run<T> (task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve))
    else this.running++
    try {
      return await task()
    } finally {
      // The slot passes straight to the next task waiting, if any.
      const next = this.waiting.shift()
      if (next === undefined) this.running--
      else next()
    }
  }
}
