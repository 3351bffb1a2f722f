// An SSE client on a raw `node:net` socket: exact bytes, headers, chunked decoding, and a
// spec parser on top. Tests await what they expect; nothing sleeps.
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { SseParser, type ParsedEvent, type ParsedItem } from './sse-parser'

export interface RawResponse {
  status: number
  headers: Record<string, string>
}

export class RawSseClient {
  readonly socket: Socket
  /** The body as received, after chunked decoding. */
  body = ''
  items: ParsedItem[] = []
  response: RawResponse | undefined
  /** The bytes of the first read from the socket. */
  firstChunk: Buffer | undefined
  /** Chunks of a chunked body (not counting the last, empty one): one per write of the server's. */
  chunkCount = 0
  ended = false
  readonly parser: SseParser
  private head = Buffer.alloc(0)
  private chunked = Buffer.alloc(0)
  /** Body bytes still expected when the response has a Content-Length. */
  private lengthLeft = Infinity
  private waiters: Array<() => void> = []

  constructor (port: number, path: string, headers: Record<string, string> = {}, options: { read?: boolean, version?: '1.0' | '1.1' } = {}) {
    this.parser = new SseParser((item) => this.items.push(item))
    this.socket = connect(port, '127.0.0.1')
    const lines = [`GET ${path} HTTP/${options.version ?? '1.1'}`, 'Host: 127.0.0.1', 'Accept: text/event-stream']
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
    this.socket.write(lines.join('\r\n') + '\r\n\r\n')
    if (options.read === false) this.socket.pause()
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk))
    this.socket.on('close', () => {
      this.ended = true
      this.wake()
    })
    this.socket.on('error', () => {})
  }

  get events (): ParsedEvent[] {
    return this.items.filter((i) => i.kind === 'event').map((i) => i.event as ParsedEvent)
  }

  get comments (): string[] {
    return this.items.filter((i) => i.kind === 'comment').map((i) => i.comment as string)
  }

  /** Resolves once `check()` holds; rejects after `timeoutMs`, or when the stream ends first. */
  async until (check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const started = Date.now()
    while (!check()) {
      if (this.ended) throw new Error(`stream ended while waiting for ${what}; body: ${JSON.stringify(this.body)}`)
      const left = timeoutMs - (Date.now() - started)
      if (left <= 0) throw new Error(`timed out waiting for ${what}; body: ${JSON.stringify(this.body)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  opened (): Promise<void> {
    return this.until(() => this.response !== undefined, 'the response head')
  }

  eventCount (n: number, timeoutMs?: number): Promise<void> {
    return this.until(() => this.events.length >= n, `${n} events`, timeoutMs)
  }

  /** Resolves once the response has ended (its last chunk, or the connection closed). */
  async responseEnd (timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.ended) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for the response to end; body: ${JSON.stringify(this.body)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  async closed (timeoutMs = 5000): Promise<void> {
    if (this.ended) return
    const timer = setTimeout(() => this.socket.destroy(new Error('timed out waiting for close')), timeoutMs)
    await once(this.socket, 'close')
    clearTimeout(timer)
  }

  close (): void {
    this.socket.destroy()
  }

  private receive (chunk: Buffer): void {
    this.firstChunk ??= chunk
    if (this.response === undefined) {
      this.head = Buffer.concat([this.head, chunk])
      const end = this.head.indexOf('\r\n\r\n')
      if (end === -1) return
      const [statusLine, ...headerLines] = this.head.subarray(0, end).toString('latin1').split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of headerLines) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      this.response = { status: Number(statusLine.split(' ')[1]), headers }
      if (headers['content-length'] !== undefined) this.lengthLeft = Number(headers['content-length'])
      chunk = this.head.subarray(end + 4)
    }
    if (this.response.headers['transfer-encoding'] === 'chunked') {
      this.dechunk(chunk)
    } else {
      // Bytes past a Content-Length are not this response's body.
      const body = chunk.subarray(0, Math.min(chunk.length, this.lengthLeft))
      this.lengthLeft -= body.length
      this.text(body)
    }
    this.wake()
  }

  private dechunk (chunk: Buffer): void {
    this.chunked = Buffer.concat([this.chunked, chunk])
    for (;;) {
      const lineEnd = this.chunked.indexOf('\r\n')
      if (lineEnd === -1) return
      const size = parseInt(this.chunked.subarray(0, lineEnd).toString('latin1'), 16)
      if (this.chunked.length < lineEnd + 2 + size + 2) return
      this.text(this.chunked.subarray(lineEnd + 2, lineEnd + 2 + size))
      if (size > 0) this.chunkCount++
      this.chunked = this.chunked.subarray(lineEnd + 2 + size + 2)
      if (size === 0) this.ended = true
    }
  }

  private text (bytes: Buffer): void {
    const text = bytes.toString('utf8')
    this.body += text
    this.parser.push(text)
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }
}
