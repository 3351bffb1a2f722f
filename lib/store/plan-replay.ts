// Decides what a reconnecting or backfilled stream receives, the same way for every store.
import { formatEventId } from '../protocol/event-id'
import type { SseReplay, SseStoredEvent, SseTopicHistory } from './types'

/**
 * `lastSeq` is the client's position, `undefined` when its id was not issued by this history.
 * The stream resumes exactly after `lastSeq` when every topic still holds all its events after
 * it; otherwise it is reset to the first point from which every topic is complete.
 */
export function planReplay (epoch: string, lastSeq: number | undefined, topics: readonly SseTopicHistory[]): SseReplay {
  const after = replayStart(lastSeq, topics)
  const events = mergeAfter(after, topics)
  if (after === lastSeq) return { events, after }
  return { events, after, reset: { reason: lastSeq === undefined ? 'unknown' : 'expired', id: formatEventId(epoch, after) } }
}

/**
 * The `seq` after which a replay sends events: the client's position when every topic is complete
 * after it, else the first point from which they all are. A store can read only the events after
 * it instead of a topic's whole history.
 */
export function replayStart (lastSeq: number | undefined, topics: ReadonlyArray<{ readonly droppedUpTo: number }>): number {
  let complete = 0
  for (const topic of topics) if (topic.droppedUpTo > complete) complete = topic.droppedUpTo
  return lastSeq !== undefined && lastSeq >= complete ? lastSeq : complete
}

/**
 * The newest `count` retained events of the topics together (`Infinity`: all), in publish order.
 * `newest` is the store's position: live events up to it are covered, sent here or not wanted.
 */
export function planBackfill (count: number, newest: number, topics: readonly SseTopicHistory[]): SseReplay {
  if (count === 0) return { events: [], after: newest }
  const events = mergeAfter(0, topics)
  let after = newest
  for (const event of events) if (event.seq > after) after = event.seq
  return { events: events.length > count ? events.slice(events.length - count) : events, after }
}

function mergeAfter (after: number, topics: readonly SseTopicHistory[]): SseStoredEvent[] {
  const events: SseStoredEvent[] = []
  for (const topic of topics) {
    for (const event of topic.events) if (event.seq > after) events.push(event)
  }
  if (topics.length > 1) events.sort((a, b) => a.seq - b.seq)
  return events
}
