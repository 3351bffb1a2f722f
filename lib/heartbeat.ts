// One timer for every stream of a hub: refreshed after each tick, unref'd so it never holds
// the process open.

export class Heartbeat {
  private readonly timer: NodeJS.Timeout

  constructor (intervalMs: number, tick: () => void) {
    this.timer = setTimeout(() => {
      tick()
      this.timer.refresh()
    }, intervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearTimeout(this.timer)
  }
}
