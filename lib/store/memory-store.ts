// The default store: ids from one sequence in this process, and each topic's history in a ring
// buffer, bounded by HistoryRetention (count, age, bytes, forgetting).
import { FST_SSE_TOPIC_FINISHED } from '../errors'
import { formatEventId, newEpoch, parseEventId } from '../protocol/event-id'
import { HistoryRetention, type RetainedEvent, type TopicLog } from './history-retention'
import { planBackfill, planReplay, replayStart } from './plan-replay'
import type { RingBuffer } from './ring-buffer'
import type { SseReplay, SseReplayFrom, SseStore, SseStoreContext, SseStoredEvent, SseStoreStats, SseTopicHistory } from './types'

/** How often expired events and marks, and topics whose last stream closed, are let go. */
const SWEEP_INTERVAL = 5000

export interface MemoryStoreOptions {
  /** The clock events are aged by (ms); tests inject one. */
  now?: () => number
  sweepInterval?: number
}

export class MemoryStore implements SseStore {
  private readonly epoch = newEpoch()
  private seq = 0
  private readonly now: () => number
  private readonly sweepInterval: number
  private sweeper: NodeJS.Timeout | undefined
  private retention!: HistoryRetention
  private context!: SseStoreContext

  constructor (options: MemoryStoreOptions = {}) {
    this.now = options.now ?? Date.now
    this.sweepInterval = options.sweepInterval ?? SWEEP_INTERVAL
  }

  async open (context: SseStoreContext): Promise<void> {
    this.context = context
    this.retention = new HistoryRetention({
      maxAge: context.historyMaxAge,
      maxBytes: context.historyMaxBytes,
      hasStreams: (topic) => context.hasStreams(topic)
    })
    this.sweeper = setTimeout(() => {
      this.retention.sweep(this.now())
      this.sweeper?.refresh()
    }, this.sweepInterval).unref()
  }

  append (topic: string, event: string, data: string, last?: boolean): Promise<SseStoredEvent> {
    const now = this.now()
    if (this.retention.finalSeqOf(topic, now) !== undefined) return Promise.reject(new FST_SSE_TOPIC_FINISHED(topic))
    // Asked before anything changes: a history function that answers wrong rejects the publish.
    const capacity = this.retention.capacityOf(topic) ?? this.context.history(topic)
    const seq = ++this.seq
    const stored: SseStoredEvent = last === true
      ? { seq, id: formatEventId(this.epoch, seq), topic, event, data, last }
      : { seq, id: formatEventId(this.epoch, seq), topic, event, data }
    this.retention.retain(stored, capacity, now)
    if (last === true) this.retention.finish(topic, seq, now)
    this.context.deliver(stored)
    return Promise.resolve(stored)
  }

  newestId (): string {
    return formatEventId(this.epoch, this.seq)
  }

  replay (topics: readonly string[], from: SseReplayFrom): SseReplay {
    const now = this.now()
    const logs: Array<Readonly<TopicLog>> = []
    const finished: string[] = []
    for (const topic of topics) {
      const log = this.retention.logOf(topic, now)
      const finalSeq = this.retention.finalSeqOf(topic, now)
      if (finalSeq === undefined) {
        logs.push(log)
      } else {
        finished.push(topic)
        // Nothing follows the final event: a forgotten topic's coarse mark cannot be past it.
        logs.push(log.droppedUpTo > finalSeq ? { ...log, droppedUpTo: finalSeq } : log)
      }
    }
    let plan: SseReplay
    if ('lastEventId' in from) {
      const lastSeq = parseEventId(from.lastEventId, this.epoch, this.seq)
      // Only what the client gets is copied: the resume point is found by seq in each ring.
      const after = replayStart(lastSeq, logs)
      plan = planReplay(this.epoch, lastSeq, logs.map((log) => historyFrom(log, firstAfter(log.ring, after))))
    } else {
      const count = from.backfill
      plan = planBackfill(count, this.seq, logs.map((log) => historyFrom(log, log.ring === undefined ? 0 : log.ring.length - count)))
    }
    return finished.length === 0 ? plan : { ...plan, finished }
  }

  async disconnect (topic: string): Promise<void> {
    this.context.disconnect(topic)
  }

  stats (): SseStoreStats {
    return { topics: this.retention.topics, retainedBytes: this.retention.bytes }
  }

  async close (): Promise<void> {
    clearTimeout(this.sweeper)
    this.retention.clear()
  }
}

function firstAfter (ring: RingBuffer<RetainedEvent> | undefined, seq: number): number {
  return ring === undefined ? 0 : ring.firstIndex((retained) => retained.event.seq > seq)
}

/** The events of `log` from ring index `start` on (a negative start counts as 0). */
function historyFrom (log: Readonly<TopicLog>, start: number): SseTopicHistory {
  const events: SseStoredEvent[] = []
  const ring = log.ring
  if (ring !== undefined) for (let i = Math.max(0, start); i < ring.length; i++) events.push((ring.at(i) as RetainedEvent).event)
  return { events, droppedUpTo: log.droppedUpTo }
}
