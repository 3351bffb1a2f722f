// The memory store's retention: which events and finished marks it keeps, and for how long.
// One byte budget across all topics (the least recently published topics lose their oldest
// events first), an age limit, and topics with nothing retained and no open stream forgotten
// into a fixed-size record, so memory stays bounded whatever the number of topics.
import { ForgottenTopics } from './forgotten-topics'
import { eventBytes, markBytes, topicBytes } from './retained-size'
import { RingBuffer } from './ring-buffer'
import type { SseStoredEvent } from './types'

export interface RetainedEvent {
  readonly event: SseStoredEvent
  /** When it was appended (the retention clock's ms). */
  readonly at: number
  /** What it counts against the byte budget. */
  readonly bytes: number
}

/** A topic's history: what is retained, and the newest seq no longer retained. */
export interface TopicLog {
  ring: RingBuffer<RetainedEvent> | undefined
  droppedUpTo: number
}

interface FinishedMark {
  readonly seq: number
  readonly at: number
}

export interface RetentionLimits {
  /** ms; 0: no age limit. */
  readonly maxAge: number
  readonly maxBytes: number
  hasStreams (topic: string): boolean
}

export class HistoryRetention {
  /** What `maxBytes` counts: retained events, their topics, finished marks. */
  bytes = 0
  /** Topics with retained events, least recently published first. */
  private readonly kept = new Map<string, TopicLog>()
  /** Topics with nothing retained that had an open stream when they emptied: kept exact for it. */
  private readonly idle = new Map<string, TopicLog>()
  private readonly forgotten = new ForgottenTopics()
  /** Finished topics, oldest first, and the seq of their final event. */
  private readonly marks = new Map<string, FinishedMark>()
  private readonly limits: RetentionLimits
  /**
   * A live iterator over `kept`, and the entry it stands on: the least recently published topic
   * unless that topic was published since. Starting a new iterator for each eviction would walk
   * past every entry deleted at the cold end since the map last compacted itself.
   */
  private cold: Iterator<[string, TopicLog]> | undefined
  private coldest: { topic: string, log: TopicLog, newest: number } | undefined

  constructor (limits: RetentionLimits) {
    this.limits = limits
  }

  /** Topics with retained events. */
  get topics (): number {
    return this.kept.size
  }

  /** The `history` a topic was given, while it retains events. */
  capacityOf (topic: string): number | undefined {
    return this.kept.get(topic)?.ring?.capacity
  }

  /** Keeps `event`, at most `capacity` of its topic, then trims to the limits. */
  retain (event: SseStoredEvent, capacity: number, now: number): void {
    const topic = event.topic
    let log = this.kept.get(topic)
    if (log === undefined) {
      log = this.idle.get(topic) ?? { ring: undefined, droppedUpTo: this.forgotten.droppedUpToOf(topic) }
      this.idle.delete(topic)
    } else {
      // Re-inserted: the map's order is the order of last publish.
      this.kept.delete(topic)
    }
    if (capacity === 0) {
      log.droppedUpTo = event.seq
      this.release(topic, log)
      return
    }
    if (log.ring === undefined) {
      log.ring = new RingBuffer(capacity)
      this.bytes += topicBytes(topic)
    }
    this.kept.set(topic, log)
    const bytes = eventBytes(topic, event.event, event.data)
    this.bytes += bytes
    const evicted = log.ring.push({ event, at: now, bytes })
    if (evicted !== undefined) {
      this.bytes -= evicted.bytes
      log.droppedUpTo = evicted.event.seq
    }
    this.trimAge(topic, log, now)
    this.enforceBudget()
  }

  /** A topic's history for a replay, trimmed to the age limit first. */
  logOf (topic: string, now: number): Readonly<TopicLog> {
    const log = this.kept.get(topic)
    if (log !== undefined) {
      this.trimAge(topic, log, now)
      return log
    }
    return this.idle.get(topic) ?? { ring: undefined, droppedUpTo: this.forgotten.droppedUpToOf(topic) }
  }

  /** Marks `topic` finished by its final event `seq`; the mark is kept at least `maxAge`. */
  finish (topic: string, seq: number, now: number): void {
    this.marks.set(topic, { seq, at: now })
    this.bytes += markBytes(topic)
    this.enforceBudget()
  }

  /** The seq of the topic's final event while it is marked finished. */
  finalSeqOf (topic: string, now: number): number | undefined {
    const mark = this.marks.get(topic)
    if (mark === undefined) return undefined
    if (this.isOld(mark.at, now)) {
      this.dropMark(topic)
      return undefined
    }
    return mark.seq
  }

  /**
   * What the lazy trims leave behind: topics whose newest event is too old (walked from the
   * least recently published, stopping at the first young one), expired marks, and idle topics
   * whose last stream has closed.
   */
  sweep (now: number): void {
    if (this.limits.maxAge > 0) {
      for (const [topic, log] of this.kept) {
        const ring = log.ring as RingBuffer<RetainedEvent>
        const young = !this.isOld((ring.at(ring.length - 1) as RetainedEvent).at, now)
        this.trimAge(topic, log, now)
        if (young) break
      }
      for (const [topic, mark] of this.marks) {
        if (!this.isOld(mark.at, now)) break
        this.dropMark(topic)
      }
    }
    for (const [topic, log] of this.idle) {
      if (this.limits.hasStreams(topic)) continue
      this.idle.delete(topic)
      this.forgotten.forget(topic, log.droppedUpTo)
    }
  }

  clear (): void {
    this.cold = undefined
    this.coldest = undefined
    this.kept.clear()
    this.idle.clear()
    this.marks.clear()
    this.bytes = 0
  }

  private isOld (at: number, now: number): boolean {
    return this.limits.maxAge > 0 && now - at > this.limits.maxAge
  }

  private trimAge (topic: string, log: TopicLog, now: number): void {
    while (log.ring !== undefined && this.isOld((log.ring.at(0) as RetainedEvent).at, now)) this.dropOldest(topic, log)
  }

  private enforceBudget (): void {
    while (this.bytes > this.limits.maxBytes && this.kept.size > 0) {
      const { topic, log } = this.leastRecentlyPublished()
      this.dropOldest(topic, log)
    }
    // With no age limit, nothing else would ever end a mark: they go last, oldest first.
    if (this.limits.maxAge > 0) return
    while (this.bytes > this.limits.maxBytes && this.marks.size > 0) this.dropMark(this.marks.keys().next().value as string)
  }

  private leastRecentlyPublished (): { topic: string, log: TopicLog } {
    for (;;) {
      const entry = this.coldest
      // Still in place: not emptied, not published since (that moved it to the hot end).
      if (entry !== undefined && this.kept.get(entry.topic) === entry.log && newestSeq(entry.log) === entry.newest) return entry
      let next = this.cold?.next()
      if (next === undefined || next.done === true) next = (this.cold = this.kept.entries()).next()
      const [topic, log] = next.value as [string, TopicLog]
      this.coldest = { topic, log, newest: newestSeq(log) }
    }
  }

  private dropOldest (topic: string, log: TopicLog): void {
    const ring = log.ring as RingBuffer<RetainedEvent>
    const oldest = ring.shift() as RetainedEvent
    this.bytes -= oldest.bytes
    log.droppedUpTo = oldest.event.seq
    if (ring.length === 0) this.release(topic, log)
  }

  /** A topic with nothing retained: exact while a stream is open on it, else forgotten. */
  private release (topic: string, log: TopicLog): void {
    if (log.ring !== undefined) {
      log.ring = undefined
      this.bytes -= topicBytes(topic)
      this.kept.delete(topic)
    }
    if (this.limits.hasStreams(topic)) {
      this.idle.set(topic, log)
    } else {
      this.forgotten.forget(topic, log.droppedUpTo)
    }
  }

  private dropMark (topic: string): void {
    this.marks.delete(topic)
    this.bytes -= markBytes(topic)
  }
}

function newestSeq (log: TopicLog): number {
  const ring = log.ring as RingBuffer<RetainedEvent>
  return (ring.at(ring.length - 1) as RetainedEvent).event.seq
}
