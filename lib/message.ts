// A message as publish, send and sendAll take it: its event name, and its data as JSON
// (`data`) or verbatim (`text`), checked against the event's schema. What goes on the wire.
import { FST_SSE_INVALID_FIELD } from './errors'
import { rejectUnknownKeys, type EventChecker } from './schemas'

export interface CheckedMessage {
  readonly event: string
  /** The data as written on the wire: JSON text, or the verbatim text. */
  readonly data: string
}

/** Throws a coded error unless `message` is an object whose other keys are only `keys`. */
export function checkMessageShape (what: string, message: unknown, keys: readonly string[]): asserts message is Record<string, unknown> {
  if (message === null || typeof message !== 'object') {
    throw new FST_SSE_INVALID_FIELD(`${what} takes an object { event, data } or { event, text }`)
  }
  if ('last' in message && !keys.includes('last')) {
    throw new FST_SSE_INVALID_FIELD(`${what} takes no \`last\`: only publish() finishes a topic`)
  }
  rejectUnknownKeys(what, message, keys)
}

/** The wire data of a message whose shape was checked: one of `data` and `text`, checked. */
export function checkMessage (checker: EventChecker, message: Record<string, unknown>): CheckedMessage {
  const { event, data, text } = message
  if (text === undefined) return { event: event as string, data: checker.serialize(event, data) }
  if (data !== undefined) throw new FST_SSE_INVALID_FIELD('a message carries `data` (sent as JSON) or `text` (sent verbatim), not both')
  return { event: event as string, data: checker.checkText(event, text) }
}
