// The hub: publish (validate -> id -> store -> encode once -> fan out), and the open streams
// it fans out to, by topic.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { FST_SSE_INVALID_FIELD, FST_SSE_INVALID_OPTION, FST_SSE_STORE_ERROR } from './errors'
import { Heartbeat } from './heartbeat'
import { Http2Sessions } from './http2-sessions'
import { checkMessage, checkMessageShape } from './message'
import { DEFAULT_TOPIC, StreamOpener, type OpenerHost } from './opener'
import { MAX_HISTORY, type SseResolvedOptions } from './options'
import { encodeComment, encodeEvent } from './protocol/encode'
import { checkField, EventChecker } from './schemas'
import { ShutdownSpread } from './shutdown-spread'
import type { SseResetReason, SseStore, SseStoredEvent } from './store/types'
import type { LiveStream } from './stream'
import type { SseCloseReason, SsePublishMessage, SseStats, SseStreamOptions } from './types'

const HEARTBEAT = Buffer.from(encodeComment(''))

export class Hub implements OpenerHost {
  readonly checker: EventChecker
  readonly maxBufferedBytes: number
  readonly store: SseStore
  readonly shutdownSpread: ShutdownSpread
  closing = false
  deliveredSeq = 0
  private readonly heartbeatMs: number
  private heartbeat: Heartbeat | undefined
  private readonly history: number | ((topic: string) => number)
  private readonly historyMaxAge: number
  private readonly historyMaxBytes: number
  private readonly streams = new Set<LiveStream>()
  private readonly byTopic = new Map<string, Set<LiveStream>>()
  private readonly sessions: Http2Sessions
  private readonly opener: StreamOpener
  /**
   * Frames encoded once per event in a fan-out, shared by its streams; forgotten after it, so
   * the history a store retains never holds its encoded copy too.
   */
  private readonly frames = new Map<SseStoredEvent, Buffer>()
  /** By topic, the streams holding frames of sendAll()'s not yet written: an event on it waits for them. */
  private readonly withSourceFrames = new Map<string, Set<LiveStream>>()
  /** Events delivered in this turn of the event loop, by topic, written together at its end. */
  private batch = new Map<string, TopicBatch>()
  /** Set while a batch is written: callbacks that must wait for the end of it. */
  private deferred: Array<() => void> | undefined
  /** disconnect(topic) calls waiting for the store to deliver them, and the streams ended here. */
  private readonly disconnecting = new Map<string, { callers: number, ended: number }>()
  private published = 0
  private dropped = 0
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
    this.heartbeatMs = options.heartbeat
    this.history = options.history
    this.historyMaxAge = options.historyMaxAge
    this.historyMaxBytes = options.historyMaxBytes
    this.store = store
    this.shutdownSpread = new ShutdownSpread(options.retry, options.shutdownSpread)
    this.opener = new StreamOpener(this, options.retry)
  }

  async start (): Promise<void> {
    await this.store.open({
      history: (topic) => this.historyOf(topic),
      historyMaxAge: this.historyMaxAge,
      historyMaxBytes: this.historyMaxBytes,
      hasStreams: (topic) => this.byTopic.has(topic),
      deliver: (event) => this.deliver(event),
      disconnect: (topic) => this.endTopic(topic),
      reset: (reason, id) => this.reset(reason, id)
    })
    // Two ticks per period, and a comment to each stream quiet for two ticks: none stays silent
    // longer than `heartbeat`, and an idle one gets one comment per period.
    if (this.heartbeatMs > 0) this.heartbeat = new Heartbeat(Math.max(1, Math.floor(this.heartbeatMs / 2)), () => this.beat())
  }

  async publish (message: SsePublishMessage<Record<string, unknown>>): Promise<{ id: string }> {
    if (message !== null && typeof message === 'object' && 'id' in message) throw new FST_SSE_INVALID_FIELD('publish() assigns ids itself; remove `id`')
    checkMessageShape('publish()', message, PUBLISH_KEYS)
    const topic = 'topic' in message ? message.topic : DEFAULT_TOPIC
    checkField('topic', topic)
    const last = message.last
    if (last !== undefined && typeof last !== 'boolean') throw new FST_SSE_INVALID_FIELD('`last` must be true (the topic\'s final event) or absent')
    const { event, data } = checkMessage(this.checker, message)
    let stored: SseStoredEvent
    try {
      stored = await this.store.append(topic, event, data, last)
    } catch (err) {
      // The store's own coded errors (a finished topic, a wrong history) pass through.
      throw String((err as { code?: unknown }).code).startsWith('FST_SSE_') ? err : new FST_SSE_STORE_ERROR('take the event', { cause: err })
    }
    this.published++
    return { id: stored.id }
  }

  async disconnect (topic: string): Promise<number> {
    checkField('topic', topic)
    let pending = this.disconnecting.get(topic)
    if (pending === undefined) this.disconnecting.set(topic, pending = { callers: 0, ended: 0 })
    pending.callers++
    try {
      await this.store.disconnect(topic)
    } catch (err) {
      throw String((err as { code?: unknown }).code).startsWith('FST_SSE_') ? err : new FST_SSE_STORE_ERROR('pass the disconnect on', { cause: err })
    } finally {
      if (--pending.callers === 0) this.disconnecting.delete(topic)
    }
    const ended = pending.ended
    pending.ended = 0
    return ended
  }

  stats (): SseStats {
    const stats = { connections: this.streams.size, published: this.published, dropped: this.dropped }
    return this.store.stats === undefined ? stats : { ...stats, ...this.store.stats() }
  }

  count (topic: string = DEFAULT_TOPIC): number {
    return this.byTopic.get(topic)?.size ?? 0
  }

  markTurn (): void {
    if (this.turnScheduled) return
    this.turnScheduled = true
    setImmediate(this.nextTurn)
  }

  /** `reply.sse()`. */
  open (request: FastifyRequest, reply: FastifyReply, options: SseStreamOptions | undefined): LiveStream {
    return this.opener.open(request, reply, options)
  }

  register (stream: LiveStream): void {
    this.streams.add(stream)
    const res = stream.response
    if ('stream' in res) stream.sessionBudget = this.sessions.track(res.stream, stream)
    for (const topic of stream.topics) {
      let streams = this.byTopic.get(topic)
      if (streams === undefined) this.byTopic.set(topic, streams = new Set())
      streams.add(stream)
    }
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

  shutDown (stream: LiveStream): void {
    stream.end('shutdown')
    this.sessions.closeAll()
  }

  /**
   * Ends a stream the store cannot serve: with status 200 sent (and `retry:`, for when to come
   * back), the browser retries. It ends once the handler's synchronous part has run, so a
   * handler that sends right after opening works unchanged.
   */
  storeUnavailable (stream: LiveStream, err: unknown): void {
    this.log.warn({ err }, 'fastify-sse-hub: the store cannot serve a new stream; ended it so the client retries')
    process.nextTick(() => stream.end('server'))
  }

  openWithoutStart (stream: LiveStream): void {
    this.opener.openWithRetry(stream)
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

  /** `history` for a topic: the app's function is checked on every answer. */
  private historyOf (topic: string): number {
    if (typeof this.history === 'number') return this.history
    const kept = this.history(topic)
    if (!Number.isInteger(kept) || kept < 0 || kept > MAX_HISTORY) {
      throw new FST_SSE_INVALID_OPTION('history', `answered ${String(kept)} for topic ${JSON.stringify(topic)}: it must answer an integer from 0 to ${MAX_HISTORY}`)
    }
    return kept
  }

  /**
   * Events that will never arrive here, in order with the events delivered before: a lost
   * history is told to each stream on a topic in band (`sse-reset`), a gap is caught up; either
   * way the streams stay open, so clients do not all reconnect at once.
   */
  private reset (reason: SseResetReason, id: string): void {
    this.flush()
    // A new history numbers from 1 again: no position of the old one covers anything now.
    if (reason === 'unknown') this.deliveredSeq = 0
    for (const stream of this.streams) {
      // Private streams never relied on the store.
      if (stream.topics.length === 0) continue
      if (reason === 'expired') this.opener.catchUp(stream, id)
      else stream.reset(reason, id)
    }
  }

  /** disconnect(topic), as the store delivers it: after the events delivered before it. */
  private endTopic (topic: string): void {
    this.flush()
    const streams = this.byTopic.get(topic)
    let ended = 0
    if (streams !== undefined) {
      for (const stream of [...streams]) {
        stream.close()
        ended++
      }
    }
    const pending = this.disconnecting.get(topic)
    if (pending !== undefined) pending.ended += ended
  }

  holdsSourceFrames (stream: LiveStream, holds: boolean): void {
    // A private stream has no topic: it receives no event to keep in order with.
    for (const topic of stream.topics) {
      const holders = this.withSourceFrames.get(topic)
      if (!holds) {
        // It was added to every one of its topics.
        (holders as Set<LiveStream>).delete(stream)
        if (holders?.size === 0) this.withSourceFrames.delete(topic)
      } else if (holders === undefined) {
        this.withSourceFrames.set(topic, new Set([stream]))
      } else {
        holders.add(stream)
      }
    }
  }

  private deliver (event: SseStoredEvent): void {
    this.deliveredSeq = event.seq
    // Frames a source gave before this event was published go before it.
    const holders = this.withSourceFrames.get(event.topic)
    if (holders !== undefined) for (const stream of holders) stream.flushSource()
    const streams = this.byTopic.get(event.topic)
    if (streams === undefined) return
    // A nextTick queued from a microtask runs once every pending microtask has: so a loop of
    // `await publish()` coalesces into one write per client, before the event loop moves on.
    if (this.batch.size === 0) queueMicrotask(() => process.nextTick(() => this.flush()))
    const group = this.batch.get(event.topic)
    if (group === undefined) this.batch.set(event.topic, { streams, events: [event] })
    else group.events.push(event)
  }

  /**
   * Writes the events of this turn: one buffer per topic shared by every single-topic stream,
   * so each client gets one write however many events were published.
   */
  flush (then?: () => void): void {
    if (this.batch.size === 0) {
      then?.()
      return
    }
    const batch = this.batch
    this.batch = new Map()
    const outer = this.deferred
    const deferred = this.deferred = outer ?? []
    try {
      this.fanOut(batch)
      then?.()
    } finally {
      // The outermost flush runs what waited, once every write of the batch is done.
      if (outer === undefined) {
        this.frames.clear()
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

  private fanOut (batch: Map<string, TopicBatch>): void {
    // Streams on several topics (or finishing a replay): the event lists of their topics.
    let oneByOne: Map<LiveStream, Array<readonly SseStoredEvent[]>> | undefined
    // The topic's streams as they were at delivery: a set emptied since is simply empty.
    for (const { streams, events } of batch.values()) {
      let joined: Buffer | undefined
      for (const stream of streams) {
        if (stream.direct) {
          joined ??= events.length === 1 ? this.frameOf(events[0]) : Buffer.concat(events.map((e) => this.frameOf(e)))
          stream.write(joined)
          stream.sentId = events[events.length - 1].id
          // Nothing follows a topic's final event: it is the last of the list, if there.
          if (events[events.length - 1].last === true) stream.finishTopic(stream.topics[0])
        } else {
          const lists = (oneByOne ??= new Map()).get(stream)
          if (lists === undefined) oneByOne.set(stream, [events])
          else lists.push(events)
        }
      }
    }
    if (oneByOne === undefined) return
    // Each takes the events of its own topics, in publish order: the work is what it receives,
    // never the whole batch (a stream per user on ['broadcast', 'user:<id>'] would make it N²).
    for (const [stream, lists] of oneByOne) {
      for (const event of inPublishOrder(lists)) stream.deliver(event, this.frameOf(event))
    }
  }

  /** Called in a fan-out only: flush() forgets the frames at its end. */
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

/** The events of one topic in a batch, and the streams on that topic. */
interface TopicBatch {
  readonly streams: Set<LiveStream>
  readonly events: SseStoredEvent[]
}

const PUBLISH_KEYS = ['event', 'data', 'text', 'topic', 'last']

/** Sorted lists of events (one per topic) merged into one, in publish order. */
function inPublishOrder (lists: Array<readonly SseStoredEvent[]>): readonly SseStoredEvent[] {
  if (lists.length === 1) return lists[0]
  return lists.flat().sort((a, b) => a.seq - b.seq)
}
