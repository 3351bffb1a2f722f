// Rolling deploys: the `retry:` each stream gets as the app closes, its own, so the clients of an
// instance that shuts down come back spread over `shutdownSpread` ms rather than all at once.
import { encodeRetry } from './protocol/encode'

export class ShutdownSpread {
  private readonly retry: number
  private readonly spread: number
  private readonly random: () => number

  /** `retry`: the plugin's option (its delay comes first); `random`: in [0, 1), as Math.random. */
  constructor (retry: number | undefined, spread: number, random: () => number = Math.random) {
    this.retry = retry ?? 0
    this.spread = spread
    this.random = random
  }

  /** The last frame of one stream: `retry:` with `retry` + a random whole delay in [0, spread); none when off. */
  frame (): string | undefined {
    if (this.spread === 0) return undefined
    return encodeRetry(this.retry + Math.floor(this.random() * this.spread))
  }
}
