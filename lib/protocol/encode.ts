// The SSE wire format (WHATWG HTML, "Server-sent events"), written here and nowhere else.

/** The event a stream receives first when it cannot resume exactly; reserved. */
export const RESET_EVENT = 'sse-reset'

/** True when `text` holds a character that would end or corrupt an SSE field line. */
export function hasLineBreakOrNul (text: string): boolean {
  return text.includes('\n') || text.includes('\r') || text.includes('\0')
}

/** One `data:` line per line of `text`; `\r\n`, `\r` and `\n` all end a line. */
function dataLines (text: string): string {
  if (!text.includes('\n') && !text.includes('\r')) return 'data: ' + text + '\n'
  let out = ''
  for (const line of text.split(/\r\n|\r|\n/)) out += 'data: ' + line + '\n'
  return out
}

/** A complete event frame. `id` and `event` must already be free of CR, LF and NUL. */
export function encodeEvent (id: string | undefined, event: string, data: string): string {
  let frame = id === undefined ? '' : 'id: ' + id + '\n'
  if (event !== 'message') frame += 'event: ' + event + '\n'
  return frame + dataLines(data) + '\n'
}

/** A frame that only moves the client's last event id; it dispatches no event. */
export function encodeIdOnly (id: string, retry?: number): string {
  return (retry === undefined ? '' : 'retry: ' + retry + '\n') + 'id: ' + id + '\n\n'
}

/** Only a reconnection delay, for a stream that resumes (it needs no id frame). */
export function encodeRetry (retry: number): string {
  return 'retry: ' + retry + '\n\n'
}

/** A comment; `''` gives a bare `:`. The text must already be free of CR, LF and NUL. */
export function encodeComment (text: string): string {
  return (text === '' ? ':' : ': ' + text) + '\n\n'
}
