// The default store: one ring buffer per topic in this process.
import { formatEventId, newEpoch, parseEventId } from '../protocol/event-id'
import { planReplay } from './plan-replay'
import { RingBuffer } from './ring-buffer'
import type { SseReplay, SseStore, SseStoreContext, SseStoredEvent, SseTopicHistory } from './types'

interface TopicLog {
  retained: RingBuffer<SseStoredEvent> | undefined
  droppedUpTo: number
}

export class MemoryStore implements SseStore {
  private readonly epoch = newEpoch()
  private seq = 0
  private history = 0
  private readonly topics = new Map<string, TopicLog>()
  private deliver!: (event: SseStoredEvent) => void

  async open (context: SseStoreContext): Promise<void> {
    this.history = context.history
    this.deliver = (event) => context.deliver(event)
  }

  append (topic: string, event: string, data: string): Promise<SseStoredEvent> {
    const seq = ++this.seq
    const stored: SseStoredEvent = { seq, id: formatEventId(this.epoch, seq), topic, event, data }
    this.retain(stored)
    this.deliver(stored)
    return Promise.resolve(stored)
  }

  newestId (): string {
    return formatEventId(this.epoch, this.seq)
  }

  replay (topics: readonly string[], lastEventId: string): SseReplay {
    const histories: SseTopicHistory[] = []
    for (const topic of topics) {
      const log = this.topics.get(topic)
      if (log === undefined) continue
      const events: SseStoredEvent[] = []
      const retained = log.retained
      if (retained !== undefined) for (let i = 0; i < retained.length; i++) events.push(retained.at(i) as SseStoredEvent)
      histories.push({ events, droppedUpTo: log.droppedUpTo })
    }
    return planReplay(this.epoch, parseEventId(lastEventId, this.epoch, this.seq), histories)
  }

  async close (): Promise<void> {
    this.topics.clear()
  }

  private retain (event: SseStoredEvent): void {
    let log = this.topics.get(event.topic)
    if (log === undefined) {
      log = { retained: this.history > 0 ? new RingBuffer(this.history) : undefined, droppedUpTo: 0 }
      this.topics.set(event.topic, log)
    }
    if (log.retained === undefined) {
      log.droppedUpTo = event.seq
      return
    }
    const dropped = log.retained.push(event)
    if (dropped !== undefined) log.droppedUpTo = dropped.seq
  }
}
