// The hub: publish (validate -> id -> store -> encode once -> fan out), and the open streams
// it fans out to, by topic.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import { FST_SSE_INVALID_FIELD, FST_SSE_STORE_ERROR } from './errors'
import { Heartbeat } from './heartbeat'
import { Http2Sessions } from './http2-sessions'
import type { SseResolvedOptions } from './options'
import { encodeComment, encodeEvent, encodeIdOnly, encodeRetry, RESET_EVENT } from './protocol/encode'
import { checkField, EventChecker, rejectUnknownKeys } from './schemas'
import type { SseReplay, SseStore, SseStoredEvent } from './store/types'
import { isGone, LiveStream, type SseResponse, type StreamOwner } from './stream'
import type { SseCloseReason, SseHub, SsePublishMessage, SseStats, SseStreamOptions } from './types'

export const DEFAULT_TOPIC = 'broadcast'
const HEARTBEAT = Buffer.from(encodeComment(''))

export class Hub implements SseHub, StreamOwner {
  readonly checker: EventChecker
  readonly maxBufferedBytes: number
  private readonly store: SseStore
  private readonly retry: number | undefined
  private readonly heartbeatMs: number
  private heartbeat: Heartbeat | undefined
  private readonly streams = new Set<LiveStream>()
  private readonly byTopic = new Map<string, Set<LiveStream>>()
  private readonly sessions: Http2Sessions
  /** Frames encoded once per event, shared by every stream and by replays from memory. */
  private readonly frames = new WeakMap<SseStoredEvent, Buffer>()
  /** Events delivered in this turn of the event loop, written together at its end. */
  private batch: SseStoredEvent[] = []
  private batchByTopic = new Map<string, { streams: Set<LiveStream>, events: SseStoredEvent[] }>()
  /** Set while a batch is written: callbacks that must wait for the end of it. */
  private deferred: Array<() => void> | undefined
  private published = 0
  private dropped = 0
  private closing = false
  /** The first frame of new streams, encoded once per newest id. */
  private primedId = ''
  private primingFrame = ''
  turn = 0
  private turnScheduled = false
  private readonly nextTurn = (): void => {
    this.turn++
    this.turnScheduled = false
  }

  private readonly log: FastifyBaseLogger

  /** `sessionMemory`: the HTTP/2 server's `maxSessionMemory`, in bytes. */
  constructor (options: SseResolvedOptions, store: SseStore, log: FastifyBaseLogger, sessionMemory: number) {
    this.log = log
    this.sessions = new Http2Sessions(sessionMemory)
    this.checker = new EventChecker(options.events)
    this.maxBufferedBytes = options.maxBufferedBytes
    this.retry = options.retry
    this.heartbeatMs = options.heartbeat
    this.store = store
  }

  async start (history: number): Promise<void> {
    await this.store.open({
      history,
      deliver: (event) => this.deliver(event),
      // Events that will never arrive here: every stream reconnects, then replays or resets.
      lost: () => { for (const stream of this.streams) stream.end('server') }
    })
    // Two ticks per period, and a comment to each stream quiet for two ticks: none stays silent
    // longer than `heartbeat`, and an idle one gets one comment per period.
    if (this.heartbeatMs > 0) this.heartbeat = new Heartbeat(Math.max(1, Math.floor(this.heartbeatMs / 2)), () => this.beat())
  }

  async publish (message: SsePublishMessage): Promise<{ id: string }> {
    if (message === null || typeof message !== 'object') {
      throw new FST_SSE_INVALID_FIELD('publish() takes an object { event, data, topic? }')
    }
    if ('id' in message) throw new FST_SSE_INVALID_FIELD('publish() assigns ids itself; remove `id`')
    rejectUnknownKeys('publish()', message, PUBLISH_KEYS)
    const topic = 'topic' in message ? message.topic : DEFAULT_TOPIC
    checkField('topic', topic)
    const data = this.checker.serialize(message.event, message.data)
    let stored: SseStoredEvent
    try {
      stored = await this.store.append(topic, message.event, data)
    } catch (err) {
      throw (err as { code?: unknown }).code === 'FST_SSE_STORE_ERROR' ? err : new FST_SSE_STORE_ERROR('take the event', { cause: err })
    }
    this.published++
    return { id: stored.id }
  }

  stats (): SseStats {
    return { connections: this.streams.size, published: this.published, dropped: this.dropped }
  }

  count (topic: string = DEFAULT_TOPIC): number {
    return this.byTopic.get(topic)?.size ?? 0
  }

  markTurn (): void {
    if (this.turnScheduled) return
    this.turnScheduled = true
    setImmediate(this.nextTurn)
  }

  /** `reply.sse()`: sends the headers at once and attaches the stream to its topics. */
  open (request: FastifyRequest, reply: FastifyReply, options: SseStreamOptions | undefined): LiveStream {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new FST_SSE_INVALID_FIELD('reply.sse() takes an options object { topics? }')
    }
    if (options !== undefined) rejectUnknownKeys('reply.sse()', options, STREAM_KEYS)
    const topics = checkTopics(options?.topics)
    const lastEventId = readLastEventId(request)
    const res = reply.raw as SseResponse
    // Before anything is registered: a header Node refuses throws here, and Fastify answers it.
    if (!isGone(res)) res.writeHead(200, streamHeaders(reply, res, keepsAlive(request, res)))
    reply.hijack()
    const stream = new LiveStream(this, res, topics, lastEventId)
    if (stream.ended) return stream
    // HEAD: the headers and no body, and a response that ends (a keep-alive connection goes on
    // serving). The stream ends once the handler's synchronous part has run, so the handler that
    // serves GET works unchanged: what it sends meanwhile is discarded, as Node does for HEAD.
    if (request.method === 'HEAD') {
      process.nextTick(() => stream.end('server'))
      return stream
    }
    // Events published before this stream opened go out first: its first id already covers them.
    this.flush()
    this.streams.add(stream)
    if ('stream' in res) stream.sessionBudget = this.sessions.track(res.stream, stream)
    for (const topic of topics) {
      let streams = this.byTopic.get(topic)
      if (streams === undefined) this.byTopic.set(topic, streams = new Set())
      streams.add(stream)
    }
    if (lastEventId === undefined) {
      // The priming frame, written now, carries the headers with it: one packet.
      this.prime(stream, res)
    } else {
      // A replay may wait on the store: the headers (and `retry:`) go out at once.
      this.openWithRetry(stream, res)
      this.replay(stream, lastEventId)
    }
    // Opened while the app closes (an async handler that was still working): ended at once.
    if (this.closing) {
      stream.end('shutdown')
      this.sessions.closeAll()
    }
    return stream
  }

  detach (stream: LiveStream, reason: SseCloseReason): void {
    if (!this.streams.delete(stream)) return
    if (reason === 'slow') this.dropped++
    for (const topic of stream.topics) {
      const streams = this.byTopic.get(topic) as Set<LiveStream>
      streams.delete(stream)
      if (streams.size === 0) this.byTopic.delete(topic)
    }
  }

  /**
   * preClose: ends every stream, and its connection, so the server can close. HTTP/2 sessions
   * are closed too: before Node 24 nothing else closes them unless `forceCloseConnections` is set.
   */
  endAll (): void {
    this.closing = true
    for (const stream of this.streams) stream.end('shutdown')
    this.sessions.closeAll()
  }

  async close (): Promise<void> {
    this.heartbeat?.stop()
    await this.store.close()
  }

  /** A new stream learns the newest id, so it resumes without loss even before its first event. */
  private prime (stream: LiveStream, res: SseResponse): void {
    let id: string
    try {
      id = this.store.newestId()
    } catch (err) {
      // The headers, and `retry:` for when to come back, before the stream ends.
      this.openWithRetry(stream, res)
      this.storeUnavailable(stream, err)
      return
    }
    if (id !== this.primedId) {
      this.primedId = id
      this.primingFrame = encodeIdOnly(id, this.retry)
    }
    stream.writeWithHeaders(this.primingFrame)
  }

  /** Sends the headers now, with the `retry:` line when there is one: a stream without its first frame. */
  private openWithRetry (stream: LiveStream, res: SseResponse): void {
    if (this.retry === undefined) (res as ServerResponse).flushHeaders()
    else stream.writeWithHeaders(encodeRetry(this.retry))
  }

  private replay (stream: LiveStream, lastEventId: string): void {
    stream.awaitReplay()
    let replay: SseReplay | Promise<SseReplay>
    try {
      replay = this.store.replay(stream.topics, lastEventId)
    } catch (err) {
      this.storeUnavailable(stream, err)
      return
    }
    if (replay instanceof Promise) {
      replay.then((found) => this.sendReplay(stream, lastEventId, found), (err) => this.storeUnavailable(stream, err))
    } else {
      this.sendReplay(stream, lastEventId, replay)
    }
  }

  /**
   * Ends a stream the store cannot serve: with status 200 sent, the browser retries. It ends
   * once the handler's synchronous part has run, so a handler that sends right after opening
   * works unchanged.
   */
  private storeUnavailable (stream: LiveStream, err: unknown): void {
    this.log.warn({ err }, 'fastify-sse-hub: the store cannot serve a new stream; ended it so the client retries')
    process.nextTick(() => stream.end('server'))
  }

  private sendReplay (stream: LiveStream, lastEventId: string, replay: SseReplay): void {
    if (stream.ended) return
    const frames: Buffer[] = []
    if (replay.reset !== undefined) {
      const data = JSON.stringify({ lastEventId, reason: replay.reset.reason })
      frames.push(Buffer.from(encodeEvent(replay.reset.id, RESET_EVENT, data)))
    }
    let after = replay.after
    for (const event of replay.events) {
      frames.push(this.frameOf(event))
      after = event.seq
    }
    stream.finishReplay(frames, after)
  }

  private deliver (event: SseStoredEvent): void {
    const streams = this.byTopic.get(event.topic)
    if (streams === undefined) return
    // A nextTick queued from a microtask runs once every pending microtask has: so a loop of
    // `await publish()` coalesces into one write per client, before the event loop moves on.
    if (this.batch.length === 0) queueMicrotask(() => process.nextTick(() => this.flush()))
    this.batch.push(event)
    const group = this.batchByTopic.get(event.topic)
    if (group === undefined) this.batchByTopic.set(event.topic, { streams, events: [event] })
    else group.events.push(event)
  }

  /**
   * Writes the events of this turn: one buffer per topic shared by every single-topic stream,
   * so each client gets one write however many events were published.
   */
  flush (then?: () => void): void {
    if (this.batch.length === 0) {
      then?.()
      return
    }
    const batch = this.batch
    const groups = this.batchByTopic
    this.batch = []
    this.batchByTopic = new Map()
    const outer = this.deferred
    const deferred = this.deferred = outer ?? []
    try {
      this.fanOut(batch, groups)
      then?.()
    } finally {
      // The outermost flush runs what waited, once every write of the batch is done.
      if (outer === undefined) {
        this.deferred = undefined
        for (const callback of deferred) callback()
      }
    }
  }

  /**
   * Runs `callback` now, or once the fan-out in progress is done: an abort listener of a stream
   * dropped mid-fan-out that sends to another stream must not write ahead of this batch there.
   */
  afterFanOut (callback: () => void): void {
    if (this.deferred === undefined) callback()
    else this.deferred.push(callback)
  }

  private fanOut (batch: readonly SseStoredEvent[], groups: Map<string, { streams: Set<LiveStream>, events: SseStoredEvent[] }>): void {
    let oneByOne: Set<LiveStream> | undefined
    // The topic's streams as they were at delivery: a set emptied since is simply empty.
    for (const { streams, events } of groups.values()) {
      let joined: Buffer | undefined
      for (const stream of streams) {
        if (stream.direct) {
          joined ??= events.length === 1 ? this.frameOf(events[0]) : Buffer.concat(events.map((e) => this.frameOf(e)))
          stream.write(joined)
        } else {
          (oneByOne ??= new Set()).add(stream)
        }
      }
    }
    if (oneByOne === undefined) return
    // Streams on several topics (or finishing a replay) take the batch in publish order.
    for (const stream of oneByOne) {
      for (const event of batch) {
        if (stream.topics.includes(event.topic)) stream.deliver(event.seq, this.frameOf(event))
      }
    }
  }

  private frameOf (event: SseStoredEvent): Buffer {
    let frame = this.frames.get(event)
    if (frame === undefined) {
      frame = Buffer.from(encodeEvent(event.id, event.event, event.data))
      this.frames.set(event, frame)
    }
    return frame
  }

  private beat (): void {
    for (const stream of this.streams) {
      if (++stream.quietTicks >= 2) stream.write(HEARTBEAT)
    }
  }
}

const DEFAULT_TOPICS: readonly string[] = Object.freeze([DEFAULT_TOPIC])
const PUBLISH_KEYS = ['event', 'data', 'topic']
const STREAM_KEYS = ['topics']

function checkTopics (topics: unknown): readonly string[] {
  if (topics === undefined) return DEFAULT_TOPICS
  if (!Array.isArray(topics) || topics.length === 0) {
    throw new FST_SSE_INVALID_FIELD('`topics` must be a non-empty array of topic names')
  }
  for (const topic of topics) checkField('topic', topic)
  return [...new Set(topics as string[])]
}

function readLastEventId (request: FastifyRequest): string | undefined {
  const header = request.headers['last-event-id']
  if (typeof header === 'string' && header !== '') return header
  // From the URL itself, not `request.query`: a route's query schema may strip keys it does not know.
  const url = request.raw.url as string
  const start = url.indexOf('?')
  if (start === -1) return undefined
  const fromQuery = new URLSearchParams(url.slice(start + 1)).get('lastEventId')
  return fromQuery === null || fromQuery === '' ? undefined : fromQuery
}

/**
 * HTTP/1.1 streams say `Connection: keep-alive`, unless Node is to close the connection (the
 * client asked, or it reached `maxRequestsPerSocket`): then Node says so itself. HTTP/2 has no
 * Connection header, and HTTP/1.0 closes the connection to end the body.
 */
function keepsAlive (request: FastifyRequest, res: SseResponse): boolean {
  const http1 = res as ServerResponse & { maxRequestsOnConnectionReached?: boolean }
  return request.raw.httpVersion === '1.1' && http1.shouldKeepAlive && http1.maxRequestsOnConnectionReached !== true
}

function streamHeaders (reply: FastifyReply, res: SseResponse, keepAlive: boolean): Record<string, string | number | string[]> {
  // getHeaders() returns a fresh object (the reply's and Node's headers): ours to change.
  const headers = reply.getHeaders() as Record<string, string | number | string[]>
  if ('content-length' in headers || 'transfer-encoding' in headers) {
    delete headers['content-length']
    delete headers['transfer-encoding']
    // Set on Node's response itself, it would survive writeHead(), which merges into those.
    // (Removing transfer-encoding there would turn chunked encoding off: it is left alone.)
    if (res.hasHeader('content-length')) res.removeHeader('content-length')
  }
  headers['content-type'] = 'text/event-stream; charset=utf-8'
  headers['cache-control'] = 'no-cache, no-transform'
  headers['x-accel-buffering'] = 'no'
  if (keepAlive) headers.connection = 'keep-alive'
  return headers
}
