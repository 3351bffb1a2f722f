// A store context for tests that open a store themselves, without the hub: it records what the
// store delivers and the resets it reports.
import type { SseResetReason, SseStoreContext, SseStoredEvent } from '../../lib/store/types'

export class RecordingContext {
  readonly events: SseStoredEvent[] = []
  /** Every reset the store reported: `<reason> <id> after <n>`, n the events delivered before it. */
  readonly resets: string[] = []
  readonly disconnects: string[] = []
  private waiters: Array<() => void> = []

  constructor (readonly history: number) {}

  deliver (event: SseStoredEvent): void {
    this.events.push(event)
    this.wake()
  }

  /** How many times the store reported events that will never be delivered. */
  get lost (): number {
    return this.resets.length
  }

  // Declared as a property so that `reset` stays optional in the store's eyes, as for the hub.
  readonly onReset = (reason: SseResetReason, id: string): void => {
    this.resets.push(`${reason} ${id} after ${this.events.length}`)
    this.wake()
  }

  /** Resolves once `check()` holds; rejects after `timeoutMs`. */
  async until (check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${what}; delivered ${JSON.stringify(this.events.map((e) => e.id))}, resets ${JSON.stringify(this.resets)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** The context a store is opened with; `withReset: false` is a hub that ignores resets. */
  context (withReset = true): SseStoreContext {
    const context: SseStoreContext = {
      history: () => this.history,
      historyMaxAge: 3_600_000,
      historyMaxBytes: 64 * 1024 * 1024,
      hasStreams: () => false,
      deliver: (event) => this.deliver(event),
      disconnect: (topic) => this.disconnects.push(topic)
    }
    return withReset ? { ...context, reset: this.onReset } : context
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }
}
