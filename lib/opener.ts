// Opening a stream: its options and headers, and what it is owed before live events — its
// replay or backfill, the id-only priming frame, or (every topic finished, nothing owed) a 204.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { validateHeaderName, validateHeaderValue, type OutgoingHttpHeaders, type ServerResponse } from 'node:http'
import { describe } from './checks'
import { FST_SSE_INVALID_FIELD } from './errors'
import { PipelinedResponses } from './pipelined'
import { encodeEvent, encodeIdOnly, encodeRetry } from './protocol/encode'
import { checkField, rejectUnknownKeys } from './schemas'
import type { SseReplay, SseReplayFrom, SseStore, SseStoredEvent } from './store/types'
import { LiveStream, type SseResponse, type StreamOwner } from './stream'
import type { SseStreamOptions } from './types'

export const DEFAULT_TOPIC = 'broadcast'

/** Milliseconds per turn of the event loop spent starting streams whose plans came late. */
const START_BUDGET_MS = 2

/** The most topics one stream may be on: every store serves and replays that many. */
export const MAX_STREAM_TOPICS = 1000

/** What opening a stream needs from the hub. */
export interface OpenerHost extends StreamOwner {
  readonly store: SseStore
  readonly closing: boolean
  /** Writes the events published so far, so a stream that joins now starts after them. */
  flush (): void
  /** Adds the stream to the open streams and to its topics. */
  register (stream: LiveStream): void
  /** Ends a stream opened while the app closes. */
  shutDown (stream: LiveStream): void
  /** A stream the store cannot serve: it ends, and its client retries. */
  storeUnavailable (stream: LiveStream, err: unknown): void
}

export class StreamOpener {
  private readonly host: OpenerHost
  private readonly retry: number | undefined
  private readonly pipelined = new PipelinedResponses()
  /** The first frame of new streams, encoded once per newest id. */
  private primedId = ''
  private primingFrame = ''
  /** Starts whose plan came after this turn's budget ran out, in order. */
  private readonly startsWaiting: Array<() => void> = []
  /** When the first start of this turn ran (performance.now()), 0 when none did yet. */
  private turnStartedAt = 0
  /** Encoded replays, by the list of events a store answered: kept while the list is. */
  private readonly replayed = new WeakMap<readonly SseStoredEvent[], Buffer>()

  constructor (host: OpenerHost, retry: number | undefined) {
    this.host = host
    this.retry = retry
  }

  /** `reply.sse()`: checks, then attaches the stream to its topics and sends what it is owed. */
  open (request: FastifyRequest, reply: FastifyReply, options: SseStreamOptions | undefined): LiveStream {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new FST_SSE_INVALID_FIELD('reply.sse() takes an options object { topics?, backfill? }')
    }
    if (options !== undefined) rejectUnknownKeys('reply.sse()', options, STREAM_KEYS)
    const topics = checkTopics(options?.topics)
    const backfill = checkBackfill(options?.backfill)
    if (reply.sent) {
      throw Object.assign(new Error('fastify-sse-hub: this reply was already sent or turned into a stream: call reply.sse() once per request'), { code: 'ERR_HTTP_HEADERS_SENT' })
    }
    const res = reply.raw as SseResponse
    // Checked before anything is registered: a header Node refuses throws here, and Fastify
    // answers it. They are written once the stream knows its status (200, or 204).
    const head = streamHeaders(reply, res, keepsAlive(request, res))
    checkHeaders(head)
    reply.hijack()
    const stream = new LiveStream(this.host, res, topics, readLastEventId(request), head)
    if (stream.ended) return stream
    // Writes wait until the stream knows what it is owed (a store may answer later): what the
    // handler sends follows the first frame.
    stream.holdWrites()
    const from: SseReplayFrom = stream.lastEventId === undefined ? { backfill } : { lastEventId: stream.lastEventId }
    // HEAD: the status GET would get (204 or 200), the headers, and no body; the stream ends
    // once the handler's synchronous part has run, so the handler that serves GET works
    // unchanged: what it sends meanwhile is discarded, as Node does for HEAD.
    if (request.method === 'HEAD') {
      this.answerHead(stream, from)
      return stream
    }
    // A pipelined request behind another response joins when its turn comes: until then it has
    // no client to write to, so it takes no events and counts in no statistics.
    if (!('stream' in res) && PipelinedResponses.waits(res)) {
      this.pipelined.wait(stream, res, () => { if (!stream.ended) this.join(stream, from) })
      return stream
    }
    this.join(stream, from)
    return stream
  }

  /** Registers the stream and asks the store what it is owed. */
  private join (stream: LiveStream, from: SseReplayFrom): void {
    const host = this.host
    if (stream.topics.length === 0) {
      host.register(stream)
      this.start(stream, { events: [], after: 0 }, undefined)
    } else {
      // Events published before this stream opened go out first: its start covers them.
      host.flush()
      let plan: SseReplay | Promise<SseReplay>
      let primeId: string | undefined
      try {
        // In the same turn as the plan: with no events owed, the stream starts at this id.
        if (stream.lastEventId === undefined) primeId = host.store.newestId()
        plan = host.store.replay(stream.topics, from)
      } catch (err) {
        host.storeUnavailable(stream, err)
        return
      }
      host.register(stream)
      if (plan instanceof Promise) {
        plan.then((found) => this.startInTurn(() => this.start(stream, found, primeId)), (err) => host.storeUnavailable(stream, err))
      } else {
        this.start(stream, plan, primeId)
      }
    }
    // Opened while the app closes (an async handler that was still working): ended at once.
    if (host.closing) host.shutDown(stream)
  }

  /**
   * Runs the start of a stream whose plan a store answered later: now, unless the starts of this
   * turn took `START_BUDGET_MS` already; then in a later turn, in order. A reconnect storm's
   * answers (hundreds of streams on one answer, each sent its replay) are spread over turns, so
   * the replies the store waits for meanwhile (its publishes) are not read only after them all.
   */
  private startInTurn (start: () => void): void {
    if (this.startsWaiting.length === 0 && this.withinBudget()) start()
    else if (this.startsWaiting.push(start) === 1) setImmediate(this.startWaiting)
  }

  private readonly startWaiting = (): void => {
    const waiting = this.startsWaiting
    this.turnStartedAt = 0
    let i = 0
    try {
      while (i < waiting.length && this.withinBudget()) waiting[i++]()
    } finally {
      waiting.splice(0, i)
      if (waiting.length > 0) setImmediate(this.startWaiting)
    }
  }

  /** True while the starts of this turn took less than `START_BUDGET_MS`. */
  private withinBudget (): boolean {
    const now = performance.now()
    if (this.turnStartedAt === 0) {
      this.turnStartedAt = now
      setImmediate(() => { this.turnStartedAt = 0 })
    }
    return now - this.turnStartedAt < START_BUDGET_MS
  }

  /** Sends the headers and what the stream is owed, then what waited; ends it if every topic is finished. */
  private start (stream: LiveStream, plan: SseReplay, primeId: string | undefined): void {
    if (stream.ended) return
    const { frames, after, sentId } = this.owed(stream, plan, primeId)
    const finished = plan.finished?.length ?? 0
    const done = stream.topics.length > 0 && finished === stream.topics.length
    // Every topic finished and nothing owed: 204, so EventSource stops reconnecting for good.
    // Like every end at opening, after the handler's synchronous part (what it sends is dropped).
    if (done && frames.length === 0) {
      process.nextTick(() => { if (!stream.ended) stream.noContent() })
      return
    }
    if (frames.length === 0 && primeId !== undefined) {
      // The priming frame carries the headers with it: one packet.
      stream.writeWithHeaders(this.primingFrameOf(primeId))
    } else {
      this.openWithRetry(stream)
    }
    stream.topicsFinished(plan.finished ?? [])
    stream.sentId = sentId
    stream.finishReplay(frames, after)
    if (done) process.nextTick(() => stream.end('server'))
  }

  /**
   * An open stream whose instance missed events (up to `gapId`): replayed in band from the last
   * id it was sent, as its reconnect would be, while live events wait behind; exactly when its
   * topics still hold what it missed, else after `sse-reset` `expired`. (A store that shares
   * identical replays answers the streams at one position with one call.)
   */
  catchUp (stream: LiveStream, gapId: string): void {
    // Still waiting to start (its replay may predate the gap): told plainly, in turn.
    if (stream.queue !== null) {
      stream.reset('expired', gapId)
      return
    }
    stream.holdWrites()
    this.askReplay(stream.topics, { lastEventId: stream.sentId as string }, (plan) => this.resume(stream, plan),
      // Unanswered (the store failed again): the gap is told as such.
      () => this.resume(stream, { events: [], after: 0, reset: { reason: 'expired', id: gapId } }))
  }

  /**
   * What a caught-up stream is owed, then what waited meanwhile; the topics the replay found
   * finished are. A `disconnect(topic)` it missed ends it after the events before it, as it
   * would have live.
   */
  private resume (stream: LiveStream, plan: SseReplay): void {
    if (stream.ended) return
    const disconnected = plan.disconnected
    const owed = disconnected === undefined ? plan : { ...plan, events: plan.events.filter((event) => event.seq < disconnected) }
    const { frames, after, sentId } = this.owed(stream, owed, undefined)
    stream.sentId = sentId
    // The live events that waited came after the disconnect.
    if (disconnected !== undefined) stream.dropHeldEvents()
    stream.finishReplay(frames, after)
    if (disconnected !== undefined) stream.close()
    else for (const topic of plan.finished ?? []) if (!stream.ended) stream.finishTopic(topic)
  }

  /** The frames of a replay (its `sse-reset` first), where it leaves off, and the last id in it. */
  private owed (stream: LiveStream, plan: SseReplay, primeId: string | undefined): { frames: Buffer[], after: number, sentId: string | undefined } {
    const frames: Buffer[] = []
    // The reset names where the stream was: the client's Last-Event-ID, or the last id sent.
    if (plan.reset !== undefined) frames.push(Buffer.from(stream.resetFrame(plan.reset.reason, plan.reset.id)))
    let after = plan.after
    let sentId = plan.reset?.id ?? primeId ?? stream.sentId
    const events = plan.events
    if (events.length > 0) {
      frames.push(this.replayedFrames(events))
      after = events[events.length - 1].seq
      sentId = events[events.length - 1].id
    }
    return { frames, after, sentId }
  }

  /**
   * The frames of a replay's events, encoded once per list: a store answers the streams that
   * resume from the same id together (a reconnect storm) with one list, and they share a buffer.
   */
  private replayedFrames (events: readonly SseStoredEvent[]): Buffer {
    let frames = this.replayed.get(events)
    if (frames === undefined) {
      // One string, encoded at once: hundreds of frames cost one buffer, not one each and a copy.
      frames = Buffer.from(events.map((event) => encodeEvent(event.id, event.event, event.data)).join(''))
      this.replayed.set(events, frames)
    }
    return frames
  }

  /** HEAD: 204 where GET would get it, else the headers; no body either way. */
  private answerHead (stream: LiveStream, from: SseReplayFrom): void {
    const end = (): void => { process.nextTick(() => stream.end('server')) }
    if (stream.topics.length === 0) {
      this.openWithRetry(stream)
      end()
      return
    }
    const answer = (plan: SseReplay): void => {
      // The client may leave, or the app close, while the store answers.
      /* c8 ignore next */
      if (stream.ended) return
      const owed = plan.reset !== undefined || plan.events.length > 0
      if (!owed && plan.finished?.length === stream.topics.length) process.nextTick(() => { if (!stream.ended) stream.noContent() })
      else {
        this.openWithRetry(stream)
        end()
      }
    }
    this.askReplay(stream.topics, from, answer, (err) => this.host.storeUnavailable(stream, err))
  }

  /** Asks the store what a stream is owed: `answered` gets the plan, now or later; `failed` what it throws or rejects with. */
  private askReplay (topics: readonly string[], from: SseReplayFrom, answered: (plan: SseReplay) => void, failed: (err: unknown) => void): void {
    let plan: SseReplay | Promise<SseReplay>
    try {
      plan = this.host.store.replay(topics, from)
    } catch (err) {
      failed(err)
      return
    }
    if (plan instanceof Promise) plan.then(answered, failed)
    else answered(plan)
  }

  /** Sends the headers now, with the `retry:` line when there is one: a stream without its first frame. */
  openWithRetry (stream: LiveStream): void {
    if (this.retry === undefined) stream.flushHeaders()
    else stream.writeWithHeaders(encodeRetry(this.retry))
  }

  private primingFrameOf (id: string): string {
    if (id !== this.primedId) {
      this.primedId = id
      this.primingFrame = encodeIdOnly(id, this.retry)
    }
    return this.primingFrame
  }
}

const DEFAULT_TOPICS: readonly string[] = Object.freeze([DEFAULT_TOPIC])
const NO_TOPICS: readonly string[] = Object.freeze([])
const STREAM_KEYS = ['topics', 'backfill']

function checkTopics (topics: unknown): readonly string[] {
  if (topics === undefined) return DEFAULT_TOPICS
  if (!Array.isArray(topics)) {
    throw new FST_SSE_INVALID_FIELD('`topics` must be an array of topic names (`[]`: a private stream)')
  }
  if (topics.length === 0) return NO_TOPICS
  if (topics.length > MAX_STREAM_TOPICS) {
    throw new FST_SSE_INVALID_FIELD(`\`topics\` has ${topics.length} entries; a stream may be on at most ${MAX_STREAM_TOPICS} topics (publish to a shared topic instead of subscribing to many)`)
  }
  for (const topic of topics) checkField('topic', topic)
  return [...new Set(topics as string[])]
}

function checkBackfill (backfill: unknown): number {
  if (backfill === undefined) return 0
  if (backfill === 'all') return Infinity
  if (typeof backfill === 'number' && Number.isSafeInteger(backfill) && backfill >= 0) return backfill
  throw new FST_SSE_INVALID_FIELD(`\`backfill\` must be a non-negative integer or 'all', got ${typeof backfill === 'number' ? backfill : describe(backfill)}`)
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

function streamHeaders (reply: FastifyReply, res: SseResponse, keepAlive: boolean): OutgoingHttpHeaders {
  // getHeaders() returns a fresh object (the reply's and Node's headers): ours to change.
  const headers = reply.getHeaders() as OutgoingHttpHeaders
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

/** Node's own checks of writeHead(), run before the stream exists. */
function checkHeaders (headers: OutgoingHttpHeaders): void {
  for (const name of Object.keys(headers)) {
    validateHeaderName(name)
    const value = headers[name]
    if (Array.isArray(value)) for (const item of value) validateHeaderValue(name, item)
    else validateHeaderValue(name, value as string)
  }
}
