// A memory store whose replays wait for `release()`: the streams asking stay starting meanwhile,
// and are answered all at once, as a shared store answers a burst of reconnects.
import { MemoryStore } from '../../lib/store/memory-store'
import type { SseReplay, SseReplayFrom } from '../../lib/store/types'

export class HeldReplayStore extends MemoryStore {
  /** How many replays were asked for so far. */
  asked = 0
  /** Resolves once the first replay was asked for. */
  readonly firstAsked: Promise<void>
  private onAsk: () => void = () => {}
  private readonly waiting: Array<() => void> = []
  private shared: SseReplay | undefined

  /** `sharedAnswer`: every replay gets the first one's answer (the Redis store shares identical ones). */
  constructor (private readonly sharedAnswer = false) {
    super()
    this.firstAsked = new Promise((resolve) => { this.onAsk = resolve })
  }

  override replay (topics: readonly string[], from: SseReplayFrom): SseReplay {
    const plan = this.sharedAnswer ? (this.shared ??= super.replay(topics, from) as SseReplay) : super.replay(topics, from)
    this.asked++
    this.onAsk()
    return new Promise<SseReplay>((resolve) => this.waiting.push(() => resolve(plan as SseReplay))) as unknown as SseReplay
  }

  release (): void {
    for (const resume of this.waiting.splice(0)) resume()
  }
}
