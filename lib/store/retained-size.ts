// What the memory store counts against `historyMaxBytes`: the bytes of an event's strings plus
// fixed overheads, measured on V8 (bench/soak-memory.mjs calibrates them), so that the budget
// bounds the heap the history really takes.

/** The event object, its id string, its slot in the ring and the store's record of it. */
export const EVENT_OVERHEAD = 250
/** A topic with retained events: its ring, its entry in the store's map and its record. */
export const TOPIC_OVERHEAD = 300
/** A finished mark: its entry in the map of marks and its record. */
export const MARK_OVERHEAD = 110

/**
 * The bytes a string takes: its UTF-8 length, or twice its length in UTF-16 units when V8 may
 * keep it two bytes a character (any non-ASCII character), whichever is more.
 */
export function stringBytes (text: string): number {
  const utf8 = Buffer.byteLength(text)
  return utf8 === text.length ? utf8 : Math.max(utf8, 2 * text.length)
}

export function eventBytes (topic: string, event: string, data: string): number {
  return EVENT_OVERHEAD + stringBytes(data) + stringBytes(event) + stringBytes(topic)
}

export function topicBytes (topic: string): number {
  return TOPIC_OVERHEAD + stringBytes(topic)
}

export function markBytes (topic: string): number {
  return MARK_OVERHEAD + stringBytes(topic)
}
