// One client: its response, writes with a bounded backlog, replay queueing, and how it ends.
import { ServerResponse, type OutgoingHttpHeaders } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import type { EventEmitter } from 'node:events'
import { FST_SSE_INVALID_FIELD, FST_SSE_STREAM_CLOSED } from './errors'
import { takenByNode, type BudgetedStream, type SessionBudget } from './http2-session-budget'
import { encodeComment, encodeEvent, hasLineBreakOrNul, RESET_EVENT } from './protocol/encode'
import { parseEventId } from './protocol/event-id'
import { checkMessage, checkMessageShape } from './message'
import type { EventChecker } from './schemas'
import { sendAll } from './send-all'
import type { ShutdownSpread } from './shutdown-spread'
import type { SseResetReason, SseStoredEvent } from './store/types'
import type { SseCloseReason, SseMessage, SseSendAllOptions, SseSource, SseStream } from './types'

export type SseResponse = ServerResponse | Http2ServerResponse

/** What a stream needs from the hub that owns it. */
export interface StreamOwner {
  readonly checker: EventChecker
  readonly maxBufferedBytes: number
  /** The `retry:` a stream ends with when the app closes. */
  readonly shutdownSpread: ShutdownSpread
  /** The seq of the newest event the store delivered to the hub. */
  readonly deliveredSeq: number
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
  /** Sends the headers (and `retry:`) of a stream that ends before it started. */
  openWithoutStart (stream: LiveStream): void
  /** The stream holds frames of sendAll()'s (true) or no longer does: events published meanwhile wait for them. */
  holdsSourceFrames (stream: LiveStream, holds: boolean): void
  detach (stream: LiveStream, reason: SseCloseReason): void
}

/** Node's own state of an HTTP/1 response: the header block it built, and how it frames the body. */
interface Http1Internals {
  _header: string | null
  _headerSent: boolean
  chunkedEncoding: boolean
}

const SEND_KEYS = ['event', 'data', 'text']

/** A write waiting for the stream to start: a live event, or (no event) a send or comment. */
interface QueuedWrite {
  event: SseStoredEvent | undefined
  frame: Buffer | string
  /** An `sse-reset` from the store, written in its place in the order. */
  reset?: { reason: SseResetReason, id: string }
}

/** A write of the stream's handler (send, sendAll), not a live event or reset from the store. */
function isOwnWrite (item: QueuedWrite): boolean {
  return item.event === undefined && item.reset === undefined
}

export class LiveStream implements SseStream, BudgetedStream {
  readonly topics: readonly string[]
  readonly lastEventId: string | undefined
  /** The id of the last event of its topics written to it (or the client's, before any). */
  sentId: string | undefined
  /** Heartbeat ticks (two per `heartbeat`) since anything was written. */
  quietTicks = 0
  /** Live events with `seq` up to this were already sent (by a replay); 0 when none are pending. */
  skipUpTo = 0
  /** Non-null until the stream has started (its replay read, its turn come): writes wait here, in order. */
  queue: QueuedWrite[] | null = null
  /** Bytes waiting in `queue`: the client's backlog while its replay is read. */
  private queuedBytes = 0
  /**
   * Bytes of flow-controlled writes (sendAll's messages, a replay or backfill) not yet taken by
   * the socket: paced by their writer or by the client, they never count against it as slow.
   */
  private pacedBytes = 0
  /** The owner's turn of the last write (or queued write), and the bytes of it: they cannot have drained. */
  private turn = -1
  private turnBytes = 0
  /**
   * Bytes still unsent when this turn's first write came: left from earlier turns. What Node adds
   * to this turn's writes (chunk framing, the header block) makes the backlog no measure of that.
   */
  private carriedBytes = 0
  /** HTTP/2: what the stream's session may hold unsent, shared with its other event streams. */
  sessionBudget: SessionBudget | undefined
  /** Its unsent bytes as its session's budget last counted them. */
  budgetedBytes = 0

  private readonly owner: StreamOwner
  private readonly res: SseResponse
  /** The response headers, until they are written with the status. */
  private head: OutgoingHttpHeaders | undefined
  /** Its topics whose final event it has (made on the first): it ends once it has them all. */
  private finished: Set<string> | undefined
  private readonly backlog: { readonly writableLength: number }
  private reason: SseCloseReason | undefined
  private closedPromise: Promise<SseCloseReason> | undefined
  private resolveClosed: ((reason: SseCloseReason) => void) | undefined
  private controller: AbortController | undefined
  /** The stream ended during a fan-out, and its signal waits for the end of it to abort. */
  private abortPending = false
  /** sendAll() waiting for the stream to start, end, or drain. */
  private readonly progressWaiters = new Set<() => void>()
  /** sendAll() waiting for its source while the stream may end. */
  private readonly endWaiters = new Set<() => void>()
  /**
   * Frames sendAll() pulled in this turn, written together once its source pauses: a ready
   * source (an LLM's buffered tokens, an array) costs one write per turn, not one per message.
   */
  private sourceFrames = ''
  private sourceBytes = 0
  private sourceFlushScheduled = false
  /** sendAll()'s writes the socket has not taken yet. */
  private sourceWrites = 0

  constructor (owner: StreamOwner, res: SseResponse, topics: readonly string[], lastEventId: string | undefined, head: OutgoingHttpHeaders) {
    this.owner = owner
    this.res = res
    this.head = head
    this.topics = topics
    this.lastEventId = lastEventId
    this.sentId = lastEventId
    // HTTP/2 buffers in the stream, HTTP/1 in the response and its socket.
    this.backlog = 'stream' in res ? res.stream : res
    // A client can leave while an async handler is still working: then 'close' has fired already.
    if (isGone(res)) this.reason = 'client'
    else res.on('close', () => this.finish('client'))
  }

  /** The response this stream writes to. */
  get response (): SseResponse {
    return this.res
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

  send (message: SseMessage<Record<string, unknown>>): void {
    const frame = this.frameOf(message, 'send()')
    this.assertOpen('send')
    // Events published before this send go out before it; abort listeners run after it.
    this.owner.flush(() => this.write(frame))
  }

  sendAll (source: SseSource, options?: SseSendAllOptions): Promise<void> {
    return sendAll(this, source, options)
  }

  /** The frame of a message for this client only, checked like publish(); throws a coded error. */
  frameOf (message: unknown, what: string): string {
    if (message !== null && typeof message === 'object' && 'id' in message) {
      throw new FST_SSE_INVALID_FIELD(`${what} takes no \`id\`: events sent to one client are not part of the replayable history; use publish() for that`)
    }
    checkMessageShape(what, message, SEND_KEYS)
    const { event, data } = checkMessage(this.owner.checker, message)
    return encodeEvent(undefined, event, data)
  }

  /**
   * Takes a frame from sendAll(): written at the end of this turn with the others pulled in it,
   * or before anything else is written to this stream (an event published after it, a send).
   * Flow-controlled by its caller (which counts it in `backlogBytes` meanwhile), so never
   * dropped as slow.
   */
  writeFromSource (frame: string): void {
    if (this.sourceBytes === 0) {
      // Events published before it go first; those published after it wait for flushSource().
      this.owner.flush()
      if (this.reason !== undefined) return
      this.owner.holdsSourceFrames(this, true)
    }
    this.sourceFrames += frame
    this.sourceBytes += Buffer.byteLength(frame)
    if (this.sourceFlushScheduled) return
    this.sourceFlushScheduled = true
    // A nextTick queued from a microtask runs once every pending microtask has: a source that
    // is ready goes on being pulled (up to highWaterMark) before the frames are written.
    queueMicrotask(() => process.nextTick(() => {
      this.sourceFlushScheduled = false
      this.flushSource()
    }))
  }

  /** Writes sendAll()'s frames pulled so far (the events published before them are out already). */
  flushSource (): void {
    if (this.sourceBytes === 0) return
    const frames = this.sourceFrames
    const bytes = this.sourceBytes
    this.sourceFrames = ''
    this.sourceBytes = 0
    this.owner.holdsSourceFrames(this, false)
    this.sourceWrites++
    this.writePaced(frames, bytes, () => {
      this.sourceWrites--
      wakeAll(this.progressWaiters)
    })
  }

  /** A write that never counts against the client as slow until the socket took it. */
  private writePaced (chunk: string | Buffer, bytes: number, taken?: () => void): void {
    this.enterTurn()
    this.pacedBytes += bytes
    this.owner.markTurn()
    this.quietTicks = 0
    ;(this.res as ServerResponse).write(chunk, () => {
      this.pacedBytes -= bytes
      taken?.()
    })
  }

  /** Bytes the client has not taken yet, with sendAll()'s frames still to be written. */
  get backlogBytes (): number {
    return this.backlog.writableLength + this.sourceBytes
  }

  /** True while a write of sendAll()'s has not been taken by the socket: its callback will wake progress(). */
  get sourceWriteInFlight (): boolean {
    return this.sourceWrites > 0
  }

  /** True until the stream knows what it is owed and has sent it: writes wait meanwhile. */
  get starting (): boolean {
    return this.queue !== null
  }

  /**
   * Resolves once the stream started or ended, the client's socket drained or took a write of
   * sendAll()'s, or after `ms`: what sendAll() waits for before it looks at the backlog again.
   */
  progress (ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const emitter = this.backlog as unknown as EventEmitter
      const wake = (): void => {
        emitter.off('drain', wake)
        clearTimeout(timer)
        this.progressWaiters.delete(wake)
        resolve()
      }
      const timer = ms === undefined ? undefined : setTimeout(wake, ms)
      emitter.on('drain', wake)
      this.progressWaiters.add(wake)
    })
  }

  /** `promise`'s value, or `undefined` as soon as the stream ends, whichever comes first. */
  unlessEnded<T> (promise: Promise<T>): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const ended = (): void => resolve(undefined)
      this.endWaiters.add(ended)
      promise.then((value) => {
        this.endWaiters.delete(ended)
        resolve(value)
      }, (err: unknown) => {
        this.endWaiters.delete(ended)
        reject(err)
      })
    })
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

  /** Its connection closed while it waited for its turn on it. */
  clientGone (): void {
    this.finish('client')
  }

  /** Writes bytes now, or queues them behind a replay in progress. */
  write (chunk: Buffer | string): void {
    if (this.queue !== null) {
      this.enqueue(undefined, chunk)
      return
    }
    if (this.reason !== undefined) return
    // What sendAll() pulled before goes first.
    this.flushSource()
    if (this.tooFarBehind()) return
    const bytes = byteLength(chunk)
    if (this.sessionBudget !== undefined && !this.sessionBudget.admit(this, bytes, this.owner.turn)) return
    (this.res as ServerResponse).write(chunk)
    this.turnBytes += bytes
    this.quietTicks = 0
  }

  /**
   * From now until finishReplay(), writes wait in order: until the stream knows what it is owed
   * (the store may answer later) and, when pipelined, until its turn on the connection.
   */
  holdWrites (): void {
    this.queue = []
    this.queuedBytes = 0
  }

  /** Writes the status and headers, once. */
  writeHead (status: 200 | 204): void {
    this.enterTurn()
    // Called once: the stream's start, its 204, or the store failing it.
    const head = this.head as OutgoingHttpHeaders
    this.head = undefined
    if (status === 204) delete head['content-type']
    ;(this.res as ServerResponse).writeHead(status, head)
  }

  /** Sends the headers alone: a stream without a first frame. */
  flushHeaders (): void {
    this.writeHead(200)
    ;(this.res as ServerResponse).flushHeaders()
    this.quietTicks = 0
  }

  /** Every topic finished and nothing owed: `204 No Content`, and the stream has ended. */
  noContent (): void {
    this.writeHead(204)
    this.finish('server')
    this.res.end()
  }

  /** These of its topics were already finished when it started. */
  topicsFinished (topics: readonly string[]): void {
    for (const topic of topics) (this.finished ??= new Set()).add(topic)
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
    this.writeHead(200)
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
    res.write(frame)
    this.turnBytes += byteLength(frame)
    this.quietTicks = 0
    socket?.uncork()
  }

  /** A live event from the hub; skipped when a replay already sent it. */
  deliver (event: SseStoredEvent, frame: Buffer | string): void {
    if (this.queue !== null) {
      this.enqueue(event, frame)
      return
    }
    if (event.seq <= this.skipUpTo) return
    this.skipUpTo = 0
    this.write(frame)
    this.sentId = event.id
    if (event.last === true) this.finishTopic(event.topic)
  }

  /**
   * The store cannot deliver some events: `sse-reset` in band, with the id a reconnect resumes
   * from exactly, then the live events go on. Behind a replay in progress it waits its turn.
   */
  reset (reason: SseResetReason, id: string): void {
    if (this.queue !== null) {
      if (!this.tooFarBehind()) this.queue.push({ event: undefined, frame: '', reset: { reason, id } })
      return
    }
    // Already past that point: its replay came from Redis after the loss.
    const dash = id.lastIndexOf('-')
    const sent = this.sentId === undefined ? undefined : parseEventId(this.sentId, id.slice(0, dash), Number.MAX_SAFE_INTEGER)
    if (sent !== undefined && sent >= Number(id.slice(dash + 1))) return
    // A new history numbers from 1 again: a position in the old one skips nothing of it.
    if (reason === 'unknown') this.skipUpTo = 0
    this.write(this.resetFrame(reason, id))
    this.sentId = id
  }

  /** `sse-reset`: why, and where the stream was (the last id it was sent, or the client's). */
  resetFrame (reason: SseResetReason, id: string): string {
    return encodeEvent(id, RESET_EVENT, JSON.stringify({ lastEventId: this.sentId, reason }))
  }

  /** The final event of one of its topics was written: with none left, the stream ends. */
  finishTopic (topic: string): void {
    const finished = this.finished ??= new Set()
    if (finished.has(topic)) return
    finished.add(topic)
    if (finished.size === this.topics.length) this.end('server')
  }

  /** Forgets the live events waiting behind a replay; its handler's own writes stay. */
  dropHeldEvents (): void {
    this.queue = (this.queue as QueuedWrite[]).filter(isOwnWrite)
  }

  /** Sends what a replay found, then everything that waited behind it. */
  finishReplay (frames: readonly Buffer[], after: number): void {
    const waiting = this.queue as QueuedWrite[]
    this.queue = null
    // What was queued in this turn is counted again as it is written now.
    this.turnBytes = 0
    this.skipUpTo = after
    if (frames.length > 0) {
      const replayed = frames.length === 1 ? frames[0] : Buffer.concat(frames)
      this.writePaced(replayed, replayed.length)
    }
    for (const item of waiting) {
      if (item.reset !== undefined) this.reset(item.reset.reason, item.reset.id)
      else if (item.event === undefined) this.write(item.frame)
      else this.deliver(item.event, item.frame)
    }
    // Live events still to come are all newer than what this instance delivered so far: when
    // that covers `after`, none needs skipping, and the stream can share the fan-out's writes.
    if (this.skipUpTo <= this.owner.deliveredSeq) this.skipUpTo = 0
    wakeAll(this.progressWaiters)
  }

  /** Ends the stream for `reason`; a client with an unsent backlog is cut off, not waited for. */
  end (reason: SseCloseReason): void {
    // Events published before close() still reach this client (the flush may itself find the
    // client stalled and drop it: hence the check after it).
    if (reason !== 'slow' && this.reason === undefined) {
      this.flushSource()
      this.owner.flush()
    }
    if (this.reason !== undefined) return
    // Ended before it started: still an event stream (a bare 200 would make EventSource give up
    // for good), with what its handler sent; the live events it held are not its to send.
    if (this.head !== undefined && reason !== 'slow') {
      const own = (this.queue as QueuedWrite[]).filter(isOwnWrite)
      this.queue = null
      this.owner.openWithoutStart(this)
      for (const item of own) this.write(item.frame)
      // Its own writes may have put it past maxBufferedBytes: then it was dropped, and is gone.
      /* c8 ignore next */
      if (this.reason !== undefined) return
    }
    // Bytes left unsent from earlier turns: the client is not reading.
    this.enterTurn()
    const stale = this.carriedBytes
    this.finish(reason)
    // A client that is not reading is cut off rather than waited for: shutdown never hangs on it.
    if (reason === 'slow' || (reason === 'shutdown' && stale > 0)) {
      this.res.destroy()
      return
    }
    // At shutdown, in the same write as the end: when to come back, its own delay. A client
    // that is not reading was cut above, so this never makes close() wait.
    const last = reason === 'shutdown' ? this.owner.shutdownSpread.frame() : undefined
    if (last === undefined) this.res.end()
    else this.res.end(last)
    // The server is closing: its connection goes too, once the response is out (an HTTP/1.1
    // keep-alive socket idle only after close() began would otherwise hold the server open).
    // The hub closes HTTP/2 sessions, which other streams may share.
    if (reason === 'shutdown' && !('stream' in this.res)) this.res.socket?.end()
  }

  /**
   * Holds a write behind the replay; the queue counts as the client's backlog, so a replay the
   * store is slow to answer cannot make it grow past maxBufferedBytes (plus one turn) either.
   */
  private enqueue (event: SseStoredEvent | undefined, frame: Buffer | string): void {
    if (this.tooFarBehind()) return
    const bytes = byteLength(frame)
    ;(this.queue as QueuedWrite[]).push({ event, frame })
    this.queuedBytes += bytes
    this.turnBytes += bytes
  }

  private finish (reason: SseCloseReason): void {
    if (this.reason !== undefined) return
    this.reason = reason
    this.queue = null
    if (this.sourceBytes > 0) {
      this.sourceFrames = ''
      this.sourceBytes = 0
      this.owner.holdsSourceFrames(this, false)
    }
    if (this.sessionBudget !== undefined) {
      // What Node took from a stream stays counted against the session for good if the stream is
      // destroyed, or ends gracefully with a client that has not read what earlier turns wrote.
      const stuck = reason === 'slow' || reason === 'client' || this.backlog.writableLength > this.bytesOfThisTurn()
      this.sessionBudget.remove(this, stuck ? this.takenBytes : 0)
    }
    this.owner.detach(this, reason)
    this.resolveClosed?.(reason)
    wakeAll(this.progressWaiters)
    wakeAll(this.endWaiters)
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
    const unsent = this.queue === null ? this.backlog.writableLength - this.pacedBytes : this.queuedBytes
    if (unsent - this.bytesOfThisTurn() <= this.owner.maxBufferedBytes) return false
    this.end('slow')
    return true
  }

  /** Bytes written (or queued) in the owner's current turn of the event loop. */
  private bytesOfThisTurn (): number {
    this.enterTurn()
    return this.turnBytes
  }

  /** At this stream's first write of a turn: nothing written in it yet, and what earlier turns left unsent. */
  private enterTurn (): void {
    if (this.turn === this.owner.turn) return
    this.turn = this.owner.turn
    this.turnBytes = 0
    this.carriedBytes = this.backlog.writableLength
  }

  private assertOpen (action: string): void {
    if (this.reason === undefined) return
    this.abortNow()
    throw new FST_SSE_STREAM_CLOSED(action)
  }
}

function wakeAll (waiters: Set<() => void>): void {
  if (waiters.size === 0) return
  for (const wake of [...waiters]) wake()
}

function byteLength (chunk: Buffer | string): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
}

/**
 * The client has gone. HTTP/2's response has no `destroyed` of its own: its stream has. An
 * HTTP/1 response still waiting for its turn on the connection (pipelined) has no socket yet:
 * the request's socket says whether the connection is still there.
 */
export function isGone (res: SseResponse): boolean {
  if ('stream' in res) return res.stream.destroyed || res.stream.closed
  return res.destroyed || (res.socket === null && res.req.socket.destroyed)
}
