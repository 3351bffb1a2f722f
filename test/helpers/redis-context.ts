// A store context for tests that open a store themselves, without the hub: it records what the
// store delivers and how often it reports a loss.
import type { SseStoreContext, SseStoredEvent } from '../../lib/store/types'

export class RecordingContext {
  readonly events: SseStoredEvent[] = []
  lost = 0
  readonly disconnects: string[] = []
  private waiters: Array<() => void> = []

  constructor (readonly history: number) {}

  deliver (event: SseStoredEvent): void {
    this.events.push(event)
    this.wake()
  }

  // Declared as a property so that `lost` stays optional in the store's eyes, as for the hub.
  readonly onLost = (): void => {
    this.lost++
    this.wake()
  }

  /** Resolves once `check()` holds; rejects after `timeoutMs`. */
  async until (check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${what}; delivered ${JSON.stringify(this.events.map((e) => e.id))}, lost ${this.lost}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** The context a store is opened with; `withLost: false` is a hub that ignores losses. */
  context (withLost = true): SseStoreContext {
    const context: SseStoreContext = {
      history: () => this.history,
      historyMaxAge: 3_600_000,
      historyMaxBytes: 64 * 1024 * 1024,
      hasStreams: () => false,
      deliver: (event) => this.deliver(event),
      disconnect: (topic) => this.disconnects.push(topic)
    }
    return withLost ? { ...context, lost: this.onLost } : context
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }
}
