// A WHATWG "event stream interpretation" parser, independent of the plugin's encoder, so
// tests read the wire the way a browser does.

export interface ParsedEvent {
  type: string
  data: string
  lastEventId: string
}

export interface ParsedItem {
  kind: 'event' | 'comment' | 'retry' | 'id-only'
  event?: ParsedEvent
  comment?: string
  retry?: number
  /** For `id-only`: the id it set. */
  id?: string
}

export class SseParser {
  lastEventId = ''
  retry: number | undefined
  private buffer = ''
  private data = ''
  private type = ''
  private idBuffer = ''
  private sawId = false
  private firstChunk = true

  constructor (private readonly onItem: (item: ParsedItem) => void) {}

  push (chunk: string): void {
    if (this.firstChunk) {
      this.firstChunk = false
      if (chunk.startsWith('\uFEFF')) chunk = chunk.slice(1)
    }
    this.buffer += chunk
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer)
      if (match === null) return
      // A trailing CR could be the first half of CRLF: wait for more.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) return
      const line = this.buffer.slice(0, match.index)
      this.buffer = this.buffer.slice(match.index + match[0].length)
      this.line(line)
    }
  }

  private line (line: string): void {
    if (line === '') return this.dispatch()
    if (line.startsWith(':')) {
      this.onItem({ kind: 'comment', comment: line.slice(1) })
      return
    }
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.type = value
    else if (field === 'data') this.data += value + '\n'
    else if (field === 'id') {
      if (!value.includes('\0')) {
        this.idBuffer = value
        this.sawId = true
      }
    } else if (field === 'retry') {
      if (/^[0-9]+$/.test(value)) {
        this.retry = Number(value)
        this.onItem({ kind: 'retry', retry: this.retry })
      }
    }
  }

  private dispatch (): void {
    if (this.sawId) this.lastEventId = this.idBuffer
    const hadId = this.sawId
    this.sawId = false
    if (this.data === '') {
      this.type = ''
      if (hadId) this.onItem({ kind: 'id-only', id: this.lastEventId })
      return
    }
    const data = this.data.endsWith('\n') ? this.data.slice(0, -1) : this.data
    const event = { type: this.type === '' ? 'message' : this.type, data, lastEventId: this.lastEventId }
    this.data = ''
    this.type = ''
    this.onItem({ kind: 'event', event })
  }
}
