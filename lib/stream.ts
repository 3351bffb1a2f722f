// One client: its response, writes with a bounded backlog, replay queueing, and how it ends.
import { ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import { FST_SSE_INVALID_FIELD, FST_SSE_STREAM_CLOSED } from './errors'
import { takenByNode, type BudgetedStream, type SessionBudget } from './http2-session-budget'
import { encodeComment, encodeEvent, hasLineBreakOrNul } from './protocol/encode'
import { rejectUnknownKeys, type EventChecker } from './schemas'
import type { SseCloseReason, SseMessage, SseStream } from './types'

export type SseResponse = ServerResponse | Http2ServerResponse

/** What a stream needs from the hub that owns it. */
export interface StreamOwner {
  readonly checker: EventChecker
  readonly maxBufferedBytes: number
  /** Advances once per turn of the event loop in which anything was written. */
  readonly turn: number
  /** Called on every write, so that `turn` advances after this one. */
  markTurn (): void
  /**
   * Writes the events published so far (before a stream ends or a send), then `then`, before
   * the abort listeners of any stream this write ended.
   */
  flush (then?: () => void): void
  /** Runs `callback` now, or after the fan-out in progress. */
  afterFanOut (callback: () => void): void
  detach (stream: LiveStream, reason: SseCloseReason): void
}

/** Node's own state of an HTTP/1 response: the header block it built, and how it frames the body. */
interface Http1Internals {
  _header: string | null
  _headerSent: boolean
  chunkedEncoding: boolean
}

const SEND_KEYS = ['event', 'data']

/** A write waiting for a replay to finish: a live event, or (seq -1) a send or comment. */
interface QueuedWrite {
  seq: number
  frame: Buffer | string
}

export class LiveStream implements SseStream, BudgetedStream {
  readonly topics: readonly string[]
  readonly lastEventId: string | undefined
  /** Heartbeat ticks (two per `heartbeat`) since anything was written. */
  quietTicks = 0
  /** Live events with `seq` up to this were already sent (by a replay); 0 when none are pending. */
  skipUpTo = 0
  /** Non-null while a replay is being read: writes wait here, in order. */
  queue: QueuedWrite[] | null = null
  /** Bytes waiting in `queue`: the client's backlog while its replay is read. */
  private queuedBytes = 0
  /** The owner's turn of the last write (or queued write), and the bytes of it: they cannot have drained. */
  private turn = -1
  private turnBytes = 0
  /** HTTP/2: what the stream's session may hold unsent, shared with its other event streams. */
  sessionBudget: SessionBudget | undefined
  /** Its unsent bytes as its session's budget last counted them. */
  budgetedBytes = 0

  private readonly owner: StreamOwner
  private readonly res: SseResponse
  private readonly backlog: { readonly writableLength: number }
  private reason: SseCloseReason | undefined
  private closedPromise: Promise<SseCloseReason> | undefined
  private resolveClosed: ((reason: SseCloseReason) => void) | undefined
  private controller: AbortController | undefined
  /** The stream ended during a fan-out, and its signal waits for the end of it to abort. */
  private abortPending = false

  constructor (owner: StreamOwner, res: SseResponse, topics: readonly string[], lastEventId: string | undefined) {
    this.owner = owner
    this.res = res
    this.topics = topics
    this.lastEventId = lastEventId
    // HTTP/2 buffers in the stream, HTTP/1 in the response and its socket.
    this.backlog = 'stream' in res ? res.stream : res
    // A client can leave while an async handler is still working: then 'close' has fired already.
    if (isGone(res)) this.reason = 'client'
    else res.on('close', () => this.finish('client'))
  }

  get unsentBytes (): number {
    return this.backlog.writableLength
  }

  get takenBytes (): number {
    return takenByNode((this.res as Http2ServerResponse).stream)
  }

  get ended (): boolean {
    return this.reason !== undefined
  }

  /** True when live frames can go straight to the socket, shared with other streams. */
  get direct (): boolean {
    return this.queue === null && this.skipUpTo === 0 && this.topics.length === 1
  }

  get closed (): Promise<SseCloseReason> {
    if (this.closedPromise === undefined) {
      this.closedPromise = this.reason === undefined
        ? new Promise((resolve) => { this.resolveClosed = resolve })
        : Promise.resolve(this.reason)
    }
    return this.closedPromise
  }

  get signal (): AbortSignal {
    this.abortNow()
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.reason !== undefined) this.controller.abort(this.reason)
    }
    return this.controller.signal
  }

  send (message: SseMessage): void {
    if (message === null || typeof message !== 'object') {
      throw new FST_SSE_INVALID_FIELD('send() takes an object { event, data }')
    }
    if ('id' in message) {
      throw new FST_SSE_INVALID_FIELD('send() takes no `id`: events sent to one client are not part of the replayable history; use publish() for that')
    }
    rejectUnknownKeys('send()', message, SEND_KEYS)
    const json = this.owner.checker.serialize(message.event, message.data)
    this.assertOpen('send')
    const frame = encodeEvent(undefined, message.event, json)
    // Events published before this send go out before it; abort listeners run after it.
    this.owner.flush(() => this.write(frame))
  }

  comment (text: string): void {
    if (typeof text !== 'string' || hasLineBreakOrNul(text)) {
      throw new FST_SSE_INVALID_FIELD('comment text must be a string without CR, LF or NUL')
    }
    this.assertOpen('comment')
    const frame = encodeComment(text)
    this.owner.flush(() => this.write(frame))
  }

  close (): void {
    this.end('server')
    this.abortNow()
  }

  /** Writes bytes now, or queues them behind a replay in progress. */
  write (chunk: Buffer | string): void {
    if (this.queue !== null) {
      this.enqueue(-1, chunk)
      return
    }
    if (this.reason !== undefined) return
    if (this.tooFarBehind()) return
    const bytes = byteLength(chunk)
    if (this.sessionBudget !== undefined && !this.sessionBudget.admit(this, bytes, this.owner.turn)) return
    (this.res as ServerResponse).write(chunk)
    this.turnBytes += bytes
    this.quietTicks = 0
  }

  /** From now until finishReplay(), writes wait behind the replay being read. */
  awaitReplay (): void {
    this.queue = []
    this.queuedBytes = 0
  }

  /**
   * The first write: the headers and `frame` in one packet. On HTTP/1.1 they go out as one
   * string in one write, as Node's own flushHeaders() sends headers alone: the frame's chunk is
   * appended to the header block Node has built (checked to be unsent and chunked first). Going
   * through res.write() instead costs a writev of five pieces, about a tenth of the CPU time of
   * accepting a connection. The bytes count as written in an earlier turn: the client has had no
   * chance to read them, so they only count if the socket did not take them at once.
   */
  writeWithHeaders (frame: string): void {
    const res = this.res as ServerResponse & Partial<Http1Internals>
    // Only for Node's own write(): a wrapper (light-my-request's inject(), a custom response
    // class) must see the frame, so it goes through res.write().
    if (res.write === ServerResponse.prototype.write && typeof res._header === 'string' && res._headerSent === false && res.chunkedEncoding === true) {
      res._header += Buffer.byteLength(frame).toString(16) + '\r\n' + frame + '\r\n'
      res.flushHeaders()
      this.quietTicks = 0
      return
    }
    // HTTP/2, an HTTP/1.0 client (no chunked encoding) or a wrapped write(): Node frames it.
    // The headers are flushed on their own while the socket is corked: one packet still.
    const socket = 'stream' in this.res ? undefined : this.res.socket
    socket?.cork()
    res.flushHeaders()
    this.write(frame)
    socket?.uncork()
  }

  /** A live event from the hub; skipped when a replay already sent it. */
  deliver (seq: number, frame: Buffer | string): void {
    if (this.queue !== null) {
      this.enqueue(seq, frame)
      return
    }
    if (seq <= this.skipUpTo) return
    this.skipUpTo = 0
    this.write(frame)
  }

  /** Sends what a replay found, then everything that waited behind it. */
  finishReplay (frames: readonly Buffer[], after: number): void {
    const waiting = this.queue as QueuedWrite[]
    this.queue = null
    // What was queued in this turn is counted again as it is written now.
    this.turnBytes = 0
    this.skipUpTo = after
    if (frames.length > 0) this.write(frames.length === 1 ? frames[0] : Buffer.concat(frames))
    for (const item of waiting) {
      if (item.seq < 0) this.write(item.frame)
      else this.deliver(item.seq, item.frame)
    }
  }

  /** Ends the stream for `reason`; a client with an unsent backlog is cut off, not waited for. */
  end (reason: SseCloseReason): void {
    // Events published before close() still reach this client (the flush may itself find the
    // client stalled and drop it: hence the check after it).
    if (reason !== 'slow' && this.reason === undefined) this.owner.flush()
    if (this.reason !== undefined) return
    const stale = this.backlog.writableLength - this.bytesOfThisTurn()
    this.finish(reason)
    // A client that is not reading is cut off rather than waited for: shutdown never hangs on it.
    if (reason === 'slow' || (reason === 'shutdown' && stale > 0)) {
      this.res.destroy()
      return
    }
    this.res.end()
    // The server is closing: its connection goes too, once the response is out (an HTTP/1.1
    // keep-alive socket idle only after close() began would otherwise hold the server open).
    // The hub closes HTTP/2 sessions, which other streams may share.
    if (reason === 'shutdown' && !('stream' in this.res)) this.res.socket?.end()
  }

  /**
   * Holds a write behind the replay; the queue counts as the client's backlog, so a replay the
   * store is slow to answer cannot make it grow past maxBufferedBytes (plus one turn) either.
   */
  private enqueue (seq: number, frame: Buffer | string): void {
    if (this.tooFarBehind()) return
    const bytes = byteLength(frame)
    ;(this.queue as QueuedWrite[]).push({ seq, frame })
    this.queuedBytes += bytes
    this.turnBytes += bytes
  }

  private finish (reason: SseCloseReason): void {
    if (this.reason !== undefined) return
    this.reason = reason
    this.queue = null
    if (this.sessionBudget !== undefined) {
      // What Node took from a stream stays counted against the session for good if the stream is
      // destroyed, or ends gracefully with a client that has not read what earlier turns wrote.
      const stuck = reason === 'slow' || reason === 'client' || this.backlog.writableLength > this.bytesOfThisTurn()
      this.sessionBudget.remove(this, stuck ? this.takenBytes : 0)
    }
    this.owner.detach(this, reason)
    this.resolveClosed?.(reason)
    // Abort listeners run user code at once: not in the middle of writing a batch to every stream.
    if (this.controller !== undefined) {
      this.abortPending = true
      this.owner.afterFanOut(() => this.abortNow())
    }
  }

  /**
   * Aborts the signal of a stream that ended during a fan-out, if it still waits: the fan-out is
   * over once user code runs, and user code that touches this stream never sees it ended but
   * not aborted.
   */
  private abortNow (): void {
    if (!this.abortPending) return
    this.abortPending = false
    ;(this.controller as AbortController).abort(this.reason)
  }

  /** Before a write: ends the stream ('slow') when the client's backlog is past the limit. */
  private tooFarBehind (): boolean {
    this.owner.markTurn()
    // The client's backlog: what is still unsent, or waiting behind its replay. Bytes of this
    // turn had no chance to drain, so a large burst or replay never counts against a client
    // that keeps up.
    const unsent = this.queue === null ? this.backlog.writableLength : this.queuedBytes
    if (unsent - this.bytesOfThisTurn() <= this.owner.maxBufferedBytes) return false
    this.end('slow')
    return true
  }

  /** Bytes written (or queued) in the owner's current turn of the event loop. */
  private bytesOfThisTurn (): number {
    if (this.turn !== this.owner.turn) {
      this.turn = this.owner.turn
      this.turnBytes = 0
    }
    return this.turnBytes
  }

  private assertOpen (action: string): void {
    if (this.reason === undefined) return
    this.abortNow()
    throw new FST_SSE_STREAM_CLOSED(action)
  }
}

function byteLength (chunk: Buffer | string): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
}

/** The client has gone. HTTP/2's response has no `destroyed` of its own: its stream has. */
export function isGone (res: SseResponse): boolean {
  return 'stream' in res ? res.stream.destroyed || res.stream.closed : res.destroyed
}
