// The default store: one ring buffer per topic in this process.
import { FST_SSE_TOPIC_FINISHED } from '../errors'
import { formatEventId, newEpoch, parseEventId } from '../protocol/event-id'
import { planBackfill, planReplay } from './plan-replay'
import { RingBuffer } from './ring-buffer'
import type { SseReplay, SseReplayFrom, SseStore, SseStoreContext, SseStoredEvent, SseTopicHistory } from './types'

interface TopicLog {
  retained: RingBuffer<SseStoredEvent> | undefined
  droppedUpTo: number
}

export class MemoryStore implements SseStore {
  private readonly epoch = newEpoch()
  private seq = 0
  private readonly topics = new Map<string, TopicLog>()
  /** Finished topics and the seq of their final event. */
  private readonly finished = new Map<string, number>()
  private context!: SseStoreContext

  async open (context: SseStoreContext): Promise<void> {
    this.context = context
  }

  append (topic: string, event: string, data: string, last?: boolean): Promise<SseStoredEvent> {
    if (this.finished.has(topic)) return Promise.reject(new FST_SSE_TOPIC_FINISHED(topic))
    // Asked before anything changes: a history function that answers wrong rejects the publish.
    const log = this.topics.get(topic) ?? this.startLog(topic)
    const seq = ++this.seq
    const stored: SseStoredEvent = last === true
      ? { seq, id: formatEventId(this.epoch, seq), topic, event, data, last }
      : { seq, id: formatEventId(this.epoch, seq), topic, event, data }
    if (last === true) this.finished.set(topic, seq)
    this.retain(log, stored)
    this.context.deliver(stored)
    return Promise.resolve(stored)
  }

  newestId (): string {
    return formatEventId(this.epoch, this.seq)
  }

  replay (topics: readonly string[], from: SseReplayFrom): SseReplay {
    const histories: SseTopicHistory[] = []
    const finished: string[] = []
    for (const topic of topics) {
      if (this.finished.has(topic)) finished.push(topic)
      const log = this.topics.get(topic)
      if (log === undefined) continue
      const events: SseStoredEvent[] = []
      const retained = log.retained
      if (retained !== undefined) for (let i = 0; i < retained.length; i++) events.push(retained.at(i) as SseStoredEvent)
      histories.push({ events, droppedUpTo: log.droppedUpTo })
    }
    const plan = 'lastEventId' in from
      ? planReplay(this.epoch, parseEventId(from.lastEventId, this.epoch, this.seq), histories)
      : planBackfill(from.backfill, this.seq, histories)
    return finished.length === 0 ? plan : { ...plan, finished }
  }

  async disconnect (topic: string): Promise<void> {
    this.context.disconnect(topic)
  }

  async close (): Promise<void> {
    this.topics.clear()
  }

  private startLog (topic: string): TopicLog {
    const history = this.context.history(topic)
    const log: TopicLog = { retained: history > 0 ? new RingBuffer(history) : undefined, droppedUpTo: 0 }
    this.topics.set(topic, log)
    return log
  }

  private retain (log: TopicLog, event: SseStoredEvent): void {
    if (log.retained === undefined) {
      log.droppedUpTo = event.seq
      return
    }
    const dropped = log.retained.push(event)
    if (dropped !== undefined) log.droppedUpTo = dropped.seq
  }
}
