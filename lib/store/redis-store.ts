// The Redis store: one history shared by every app instance. Lua scripts number and keep each
// event atomically; every instance follows one shared log with a single blocking XREAD, so
// thousands of topics cost no extra connection, and after a blip a reader resumes from the
// last entry it saw. The design is explained in docs/redis.md.
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import type { Cluster, RedisOptions } from 'ioredis'
import { Redis, type RedisClient } from './ioredis'
import { FST_SSE_INVALID_OPTION, FST_SSE_STORE_ERROR, FST_SSE_TOPIC_FINISHED } from '../errors'
import { formatEventId, newEpoch, parseEventId } from '../protocol/event-id'
import { planBackfill, planReplay } from './plan-replay'
import { redisKeys, type RedisKeys } from './redis-keys'
import { resolveRedisOptions, type RedisStoreSettings, type SseRedisStoreOptions } from './redis-options'
import { ScriptRunner } from './redis-script-runner'
import { CommandDeadlines } from './command-deadlines'
import { ConcurrencyLimit } from './concurrency-limit'
import { appendCall, batchesOf, type EntryKind, type QueuedEntry } from './redis-batch'
import { APPEND_SCRIPT, BACKFILL_SCRIPT, HISTORY_SCRIPT, REPLAY_SCRIPT, type RedisScript } from './redis-scripts'
import type { SseReplay, SseReplayFrom, SseStore, SseStoreContext, SseStoredEvent, SseTopicHistory } from './types'

/**
 * Log entries (each a batch of up to 1,000 events) read per XREAD: enough to catch up quickly,
 * few enough that one read is delivered without holding the event loop long.
 */
const READ_BATCH = 64
/** Replay scripts sent at once: each takes tens of µs of Redis time, publishes wait behind them. */
const REPLAYS_IN_FLIGHT = 8
const SCRIPTS = [HISTORY_SCRIPT, APPEND_SCRIPT, REPLAY_SCRIPT, BACKFILL_SCRIPT]
/** The states of a connection of ours that reconnects by itself. */
const COMING_BACK = new Set(['close', 'reconnecting', 'connecting', 'connect'])
type StreamEntry = [id: string, fields: string[]]

interface SharedReplay {
  replay: Promise<SseReplay>
  /** position() when its script was sent; undefined while it waits for a slot. */
  sentAt: string | undefined
}

/** A store that lets every app instance sharing one Redis serve the same event history. */
export function redisStore (options: SseRedisStoreOptions): SseStore {
  return new RedisStore(resolveRedisOptions(options))
}

export class RedisStore implements SseStore {
  private readonly settings: RedisStoreSettings
  private readonly keys: RedisKeys
  private context: SseStoreContext | undefined
  /** Runs the scripts: the client passed in, or one of ours. */
  private commands: RedisClient | undefined
  /** Ours, always: parked in a blocking XREAD on the shared log. */
  private reader: RedisClient | undefined
  /**
   * Ours, always: runs the replays and backfills. A reconnect storm's replays then queue on it,
   * in Redis and in their (large) answers, not ahead of the publishes on the commands connection.
   */
  private replayer: RedisClient | undefined
  private ownsCommands = false
  private readonly scripts = new ScriptRunner()
  private opened = false
  private closing = false
  private readonly stop = new AbortController()
  private loop: Promise<void> | undefined
  /** One timer, refreshed per read: a reader silent for twice `timeout` is reconnected. */
  private watchdog: NodeJS.Timeout | undefined
  /** True while the reader waits on Redis (and so is watched). */
  private reading = false
  /** The history this instance follows (`ms` starts its stream ids) and the last seq delivered. */
  private epoch = ''
  private ms = ''
  private seq = 0
  /** The highest seq seen in `epoch`: a history that falls below it went back in time. */
  private floor = 0
  /** The epoch a new history would get; replaced once used, so each one is new. */
  private candidate = newEpoch()
  /** True while the reader is connected and in step: new streams can be served. */
  private serving = false
  private lastError: unknown
  /** Time the commands and replays connections; a dead one of ours is replaced, so the next command gets a live one. */
  private readonly deadlines: CommandDeadlines
  private readonly replayDeadlines: CommandDeadlines
  /** Replays and backfills in flight: a reconnect storm queues here, not in Redis. */
  private readonly replays = new ConcurrencyLimit(REPLAYS_IN_FLIGHT)
  /** Replays from a Last-Event-ID until answered, by id and topics: identical ones may join. */
  private readonly sharedReplays = new Map<string, SharedReplay>()
  /** Appends and disconnects of this turn, sent together once it ends. */
  private queued: QueuedEntry[] = []
  /** Appends waiting for the reader to deliver their event here, in seq order. */
  private awaitingDelivery: Array<{ seq: number, done: () => void }> = []

  constructor (settings: RedisStoreSettings) {
    this.settings = settings
    this.deadlines = new CommandDeadlines(settings.timeout, () => { if (this.ownsCommands) this.commands?.disconnect(true) })
    this.replayDeadlines = new CommandDeadlines(settings.timeout, () => { this.replayer?.disconnect(true) })
    this.keys = redisKeys(settings.keyPrefix)
  }

  async open (context: SseStoreContext): Promise<void> {
    if (this.opened || this.closing) {
      throw new FST_SSE_INVALID_OPTION('store', 'is already used by another app: call redisStore() once per app')
    }
    this.opened = true
    this.context = context
    const { url, client, timeout, keyPrefix } = this.settings
    const name = `fastify-sse-hub:${keyPrefix}`
    const ours = (role: string): RedisOptions => ({
      lazyConnect: true,
      connectionName: `${name}:${role}`,
      connectTimeout: timeout,
      // In-flight commands fail at once when the connection drops: the reader's loop resumes
      // itself; a replay fails (a new stream ends and its client comes back, a catch-up resets).
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: true,
      // Never give up: a client passed in may have a retryStrategy that does, but the reader is
      // the instance's only way back to the shared log, and new streams need the replays one.
      retryStrategy: reconnectDelay
    })
    if (client === undefined) {
      this.commands = this.own(new Redis(url as string, {
        lazyConnect: true,
        connectionName: `${name}:commands`,
        connectTimeout: timeout,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        enableOfflineQueue: false
      }))
      this.ownsCommands = true
      this.reader = this.own(new Redis(url as string, ours('reader')))
      this.replayer = this.own(new Redis(url as string, ours('replays')))
    } else {
      this.commands = client
      this.reader = this.own(duplicateOf(client, ours('reader')))
      this.replayer = this.own(duplicateOf(client, ours('replays')))
    }
    const where = url === undefined ? 'the ioredis client passed in' : describeUrl(url)
    try {
      const connected = Promise.all([
        client === undefined ? this.commands.connect() : whenReady(client, this.stop.signal),
        this.reader.connect(),
        this.replayer.connect()
      ])
      await withTimeout(connected, timeout)
    } catch (err) {
      this.release()
      const cause = this.lastError ?? err
      // A refused connection fails at once: say why, not that time ran out.
      const why = (cause as { code?: unknown }).code === undefined ? `within ${timeout} ms` : `(${(cause as Error).message})`
      throw new FST_SSE_STORE_ERROR(`connect to Redis (${where}) ${why}; check that it is running and reachable`, { cause })
    }
    try {
      if (!this.commands.isCluster && await this.call(isClusterNode(this.commands as Redis), `ask Redis (${where}) whether it is a Cluster node`)) {
        throw new FST_SSE_INVALID_OPTION(url === undefined ? 'redisStore.client' : 'redisStore.url', `points at a Redis Cluster node (${where}), and a connection to one node cannot follow the Cluster's redirections: pass an ioredis Cluster client as \`client\` instead, redisStore({ client: new Redis.Cluster([{ host, port }, ...]) })`)
      }
      // Each script once, now: not once per call that would find it missing.
      await this.call(this.scripts.loadAll(this.commands, SCRIPTS), `load its scripts into Redis (${where}), which answered with an error`)
      const [epoch, ms, seq] = await this.run(HISTORY_SCRIPT, [this.keys.log], [], `read its history from Redis (${where}), which answered with an error`) as [string, string, number]
      this.follow(epoch, ms, seq)
    } catch (err) {
      this.release()
      throw err
    }
    this.serving = true
    // ioredis' own `socketTimeout` leaves a timer behind after disconnect(), holding the
    // process open: this one is unref()ed and cleared on close.
    const reading = this.reader
    // Redis ends a BLOCK on its own timer tick (1000/hz ms, 100 ms by default): allow for it.
    this.watchdog = setTimeout(() => { if (this.reading) reading.disconnect(true) }, timeout + Math.max(timeout, 1000)).unref()
    this.loop = this.read(reading)
  }

  async append (topic: string, event: string, data: string, last?: boolean): Promise<SseStoredEvent> {
    // Asked now: an app function that answers wrong fails this publish alone.
    const history = this.context?.history(topic) ?? 0
    const { epoch, seq } = await this.enqueue(topic, event, data, last === true ? '1' : '0', history)
    if (seq === 0) throw new FST_SSE_TOPIC_FINISHED(topic)
    return last === true ? { seq, id: formatEventId(epoch, seq), topic, event, data, last } : { seq, id: formatEventId(epoch, seq), topic, event, data }
  }

  async disconnect (topic: string): Promise<void> {
    // In the same queue as the appends: it follows the events published before it. (It is
    // recorded in the topic's list too, which keeps `history` events as for an append.)
    await this.enqueue(topic, '', '', 'x', this.context?.history(topic) ?? 0)
  }

  private enqueue (topic: string, event: string, data: string, kind: EntryKind, history: number): Promise<{ epoch: string, seq: number }> {
    return new Promise((resolve, reject) => {
      // A nextTick queued from a microtask runs once every pending microtask has: a loop of
      // publishes, each awaited, still ends up in one batch when they were started together.
      if (this.queued.length === 0) queueMicrotask(() => process.nextTick(() => this.sendQueued()))
      this.queued.push({ topic, event, data, kind, history, resolve, reject })
    })
  }

  private sendQueued (): void {
    const queued = this.queued
    this.queued = []
    for (const batch of batchesOf(queued)) this.sendBatch(batch)
  }

  /** Never rejects: each entry settles with the answer, or the error, of its call. */
  private async sendBatch (batch: QueuedEntry[]): Promise<void> {
    const { keys, settings, context } = this
    const call = appendCall(batch, keys.history, settings.logLength, context?.historyMaxAge ?? 0)
    let answer: Array<string | number>
    try {
      // Not open: `run` refuses, with the coded error.
      answer = await this.run(APPEND_SCRIPT, [keys.log, keys.checkpoints, ...call.keys], call.args, batch.length === 1 ? 'append the event to Redis' : `append ${batch.length} events to Redis`) as Array<string | number>
    } catch (err) {
      // A key of another type (written from outside): the script checks every key's type before
      // its first write, so nothing was written. Each entry on its own, so that only the
      // publishes it concerns fail. (Any other error rejects the batch: it may have been run.)
      if (batch.length > 1 && /^WRONGTYPE/.test(String((err as { cause?: { message?: unknown } }).cause?.message))) {
        for (const entry of batch) this.sendBatch([entry])
      } else {
        for (const entry of batch) entry.reject(err)
      }
      return
    }
    const epoch = answer[0] as string
    let newest = 0
    for (let i = 1; i < answer.length; i++) newest = Math.max(newest, answer[i] as number)
    await this.written(epoch, newest)
    for (let i = 0; i < batch.length; i++) batch[i].resolve({ epoch, seq: answer[i + 1] as number })
  }

  /**
   * After a script wrote entry `seq`: it comes back to this instance through the reader, on
   * another connection, so the caller's promise resolves once it is delivered here, and what
   * the caller does next (send, close) follows it on this instance's streams.
   */
  private async written (epoch: string, seq: number): Promise<void> {
    this.saw(epoch, seq)
    if (!this.closing && epoch === this.epoch && seq > this.seq) await this.delivered(seq)
  }

  newestId (): string {
    if (this.closing) throw new FST_SSE_STORE_ERROR('serve a new stream: the store is closed')
    if (!this.serving) throw new FST_SSE_STORE_ERROR('serve a new stream: Redis is unreachable', { cause: this.lastError })
    return formatEventId(this.epoch, this.seq)
  }

  replay (topics: readonly string[], from: SseReplayFrom): Promise<SseReplay> {
    if (!('lastEventId' in from)) return this.replayOnce(topics, from)
    // A reconnect storm is mostly clients resuming from the same id: identical replays share
    // one call and one answer. While it waits for a slot; once sent, only as long as nothing
    // was delivered here since: the script may have run before an event delivered here before
    // this stream joined, which would reach it neither way.
    const key = JSON.stringify([from.lastEventId, ...topics])
    const shared = this.sharedReplays.get(key)
    if (shared !== undefined && (shared.sentAt === undefined || shared.sentAt === this.position())) return shared.replay
    const entry: SharedReplay = { replay: undefined as unknown as Promise<SseReplay>, sentAt: undefined }
    entry.replay = this.replayOnce(topics, from, () => { entry.sentAt = this.position() })
    this.sharedReplays.set(key, entry)
    const forget = (): void => { if (this.sharedReplays.get(key) === entry) this.sharedReplays.delete(key) }
    entry.replay.then(forget, forget)
    return entry.replay
  }

  /** What this instance has delivered: the followed history and its last seq delivered. */
  private position (): string {
    return formatEventId(this.epoch, this.seq)
  }

  /** One replay or backfill; `sending` is called just before its script is sent. */
  private async replayOnce (topics: readonly string[], from: SseReplayFrom, sending?: () => void): Promise<SseReplay> {
    // This instance's position when the stream joined: a backfill covers at least up to it.
    const position = this.seq
    const lists = topics.map((topic) => this.keys.history + topic)
    // Not open: `run` refuses below, with the coded error.
    const maxAge = this.context?.historyMaxAge ?? 0
    let epoch: string
    let newest: number
    const histories: SseTopicHistory[] = []
    /** The seq of each topic's final event, 0 when it is not finished. */
    const finals: number[] = []
    /** The first disconnect of one of the topics after the client's position, as far as the lists tell. */
    let disconnected: number | undefined
    if ('lastEventId' in from) {
      const lastEventId = from.lastEventId
      const claimedEpoch = lastEventId.slice(0, Math.max(0, lastEventId.lastIndexOf('-')))
      const claimedSeq = parseEventId(lastEventId, claimedEpoch, Number.MAX_SAFE_INTEGER) ?? -1
      const found = await this.replays.run(() => {
        sending?.()
        return this.run(REPLAY_SCRIPT, [this.keys.log, this.keys.checkpoints, ...lists], [claimedEpoch, claimedSeq, maxAge], 'read the replay from Redis', true)
      }) as unknown[]
      epoch = found[0] as string
      newest = found[1] as number
      for (let i = 0; i < topics.length; i++) {
        histories.push({ events: eventsOf(epoch, topics[i], found[3 + 4 * i] as string[]), droppedUpTo: found[2 + 4 * i] as number })
        finals.push(found[4 + 4 * i] as number)
        const disconnect = found[5 + 4 * i] as number
        if (epoch === claimedEpoch && disconnect > claimedSeq) disconnected = Math.min(disconnected ?? disconnect, disconnect)
      }
    } else {
      const found = await this.replays.run(() => this.run(BACKFILL_SCRIPT, [this.keys.log, ...lists], [from.backfill === Infinity ? -1 : from.backfill, maxAge], 'read the backfill from Redis', true)) as unknown[]
      epoch = found[0] as string
      newest = found[1] as number
      for (let i = 0; i < topics.length; i++) {
        histories.push({ events: eventsOf(epoch, topics[i], found[2 + 2 * i] as string[]), droppedUpTo: 0 })
        finals.push(found[3 + 2 * i] as number)
      }
    }
    this.saw(epoch, newest)
    const plan = 'lastEventId' in from
      ? planReplay(epoch, parseEventId(from.lastEventId, epoch, newest), histories)
      // A history other than the one followed here (Redis lost it meanwhile): this instance's
      // position means nothing in it (the hub resets the streams that did not start in it).
      /* c8 ignore next */
      : planBackfill(from.backfill, epoch === this.epoch ? position : 0, histories)
    // Finished as of where the stream starts: a final event Redis holds but this instance has not
    // delivered yet reaches the stream live, and ends that topic then.
    const covered = plan.events.length === 0 ? plan.after : Math.max(plan.after, plan.events[plan.events.length - 1].seq)
    const finished = topics.filter((_, i) => finals[i] > 0 && finals[i] <= covered)
    const withFinished = finished.length === 0 ? plan : { ...plan, finished }
    return disconnected === undefined ? withFinished : { ...withFinished, disconnected }
  }

  async close (): Promise<void> {
    this.closing = true
    this.serving = false
    this.release()
    this.stopAwaitingDelivery(Infinity)
    await this.loop
  }

  /**
   * Resolves once the reader has delivered `seq` here; at the latest after `timeout`, or when
   * the reader moves to another history: the event is stored either way.
   */
  private delivered (seq: number): Promise<void> {
    return new Promise((resolve) => {
      const waiting = { seq, done: () => { clearTimeout(timer); resolve() } }
      const timer = setTimeout(() => {
        // Given up on, so not kept until the reader gets past it: a reader down for long would
        // pile them up. Still there (done() clears this timer), and the first: they time out in
        // the order they came.
        this.awaitingDelivery.splice(this.awaitingDelivery.indexOf(waiting), 1)
        resolve()
      }, this.settings.timeout)
      timer.unref()
      this.awaitingDelivery.push(waiting)
    })
  }

  private stopAwaitingDelivery (upTo: number): void {
    const waiting = this.awaitingDelivery
    let i = 0
    while (i < waiting.length && waiting[i].seq <= upTo) waiting[i++].done()
    if (i > 0) this.awaitingDelivery = waiting.slice(i)
  }

  /** Follows one shared log for every topic, in seq order, until the store closes. */
  private async read (reader: RedisClient): Promise<void> {
    const watchdog = this.watchdog as NodeJS.Timeout
    while (!this.closing) {
      try {
        // An XREAD blocks for `timeout` at most: silence much longer means a dead connection.
        watchdog.refresh()
        this.reading = true
        if (!this.serving) {
          await this.resync(reader)
          watchdog.refresh()
        }
        const reply = await reader.xread('COUNT', READ_BATCH, 'BLOCK', this.settings.timeout, 'STREAMS', this.keys.log, this.ms + '-' + this.seq)
        if (reply !== null) this.consume(reply[0][1])
        // Quiet for `timeout`: still the same history? A new one normally sorts after this
        // position and shows up in the read, but not when Redis was emptied and its clock is
        // now behind the time the old one started. (Still watched: the check can hang too.)
        else {
          watchdog.refresh()
          await this.resync(reader)
        }
        this.reading = false
      } catch (err) {
        this.reading = false
        if (this.closing) return
        this.serving = false
        this.lastError = err
        await this.pause(reader)
      }
    }
  }

  /** After a blip: which history does Redis hold now? The same one resumes where it stopped. */
  private async resync (reader: RedisClient): Promise<void> {
    const [epoch, ms, seq] = await this.scripts.run(reader, HISTORY_SCRIPT, [this.keys.meta, this.keys.log], [this.candidate, this.epoch, this.floor]) as [string, string, number]
    // Answered while the store closed: nothing is served or reported any more.
    if (this.closing) return
    if (epoch !== this.epoch) {
      // Redis lost the history this instance followed (or it went back in time): read the new
      // one from its start, after telling the streams that relied on the old one.
      this.follow(epoch, ms, 0)
      ;(this.context as SseStoreContext).reset?.('unknown', formatEventId(epoch, 0))
    }
    this.saw(epoch, seq)
    this.serving = true
  }

  private consume (entries: StreamEntry[]): void {
    const context = this.context as SseStoreContext
    for (const [id, fields] of entries) {
      const dash = id.indexOf('-')
      if (id.slice(0, dash) !== this.ms) {
        // A newer history began without this reader losing its connection (Redis emptied in
        // place): find out which before delivering anything from it.
        this.serving = false
        return
      }
      // One batch: four fields per entry (kind, topic, event, data), the last one numbered as the id says.
      const last = Number(id.slice(dash + 1))
      let seq = last - fields.length / 4 + 1
      // The log was trimmed past this reader's position: the events in between are gone.
      if (seq !== this.seq + 1) context.reset?.('expired', formatEventId(this.epoch, seq - 1))
      this.seq = last
      if (last > this.floor) this.floor = last
      for (let i = 0; i < fields.length; i += 4, seq++) {
        const kind = fields[i]
        if (kind === 'x') context.disconnect(fields[i + 1])
        else if (kind === '1') context.deliver({ seq, id: formatEventId(this.epoch, seq), topic: fields[i + 1], event: fields[i + 2], data: fields[i + 3], last: true })
        else context.deliver({ seq, id: formatEventId(this.epoch, seq), topic: fields[i + 1], event: fields[i + 2], data: fields[i + 3] })
      }
    }
    this.stopAwaitingDelivery(this.seq)
  }

  /** Waits before the reader retries: for the connection to come back, or a while after an error. */
  private async pause (reader: RedisClient): Promise<void> {
    const signal = this.stop.signal
    if (reader.status !== 'ready') return untilReady(reader, signal)
    // Redis answered with an error (a key of the wrong type, say): do not spin on it.
    await delay(this.settings.timeout, undefined, { signal }).catch(() => {})
  }

  private follow (epoch: string, ms: string, seq: number): void {
    if (epoch !== this.epoch) this.stopAwaitingDelivery(Infinity)
    this.epoch = epoch
    this.ms = ms
    this.seq = seq
    this.floor = seq
    this.retire(epoch)
  }

  /** Notes what a script returned: the highest seq of the followed history, a used candidate. */
  private saw (epoch: string, seq: number): void {
    this.retire(epoch)
    if (epoch === this.epoch && seq > this.floor) this.floor = seq
  }

  /** A candidate that named a history is never offered again: the next history must differ. */
  private retire (epoch: string): void {
    if (epoch === this.candidate) this.candidate = newEpoch()
  }

  /** Runs a script on the commands connection, or with `replaying` on the replays one. */
  private async run (script: RedisScript, keys: string[], args: Array<string | number>, action: string, replaying = false): Promise<unknown> {
    const client = replaying ? this.replayer : this.commands
    // Ours, on its way back while the reader is connected (it may be back first, and catch its
    // streams up): a replay waits for it, for `timeout` at most, rather than resetting streams
    // that could resume. With the reader down too, Redis is: the replay fails at once.
    if (replaying && this.serving && client !== undefined && COMING_BACK.has(client.status)) await untilReady(client, this.stop.signal, this.settings.timeout)
    const status = client?.status ?? 'not open'
    if (client === undefined || status !== 'ready') {
      throw new FST_SSE_STORE_ERROR(action, { cause: new Error(`fastify-sse-hub: the Redis connection is ${status}`, { cause: this.lastError }) })
    }
    return this.call(this.scripts.run(client, script, [this.keys.meta, ...keys], [this.candidate, this.epoch, this.floor, ...args]), action, replaying ? this.replayDeadlines : this.deadlines)
  }

  /** Bounds a command by `timeout`, as its connection answers; its failure says what failed. */
  private async call<T> (running: Promise<T>, action: string, deadlines = this.deadlines): Promise<T> {
    try {
      return await deadlines.track(running)
    } catch (err) {
      throw new FST_SSE_STORE_ERROR(action, { cause: err })
    }
  }

  private own<T extends RedisClient> (client: T): T {
    const remember = (err: unknown): void => { this.lastError = err }
    client.on('error', remember)
    // A Cluster reports a node's connection errors apart from its own.
    if (client.isCluster) client.on('node error', remember)
    return client
  }

  private release (): void {
    clearTimeout(this.watchdog)
    this.stop.abort()
    this.reader?.disconnect()
    this.replayer?.disconnect()
    if (this.ownsCommands) (this.commands as Redis).disconnect()
  }
}

/**
 * The events of a topic's list, as the scripts write them: '<seq>,<time>,<last>,<event>\n<data>'
 * (an event name holds no line break).
 */
function eventsOf (epoch: string, topic: string, entries: string[]): SseStoredEvent[] {
  const events: SseStoredEvent[] = []
  for (const entry of entries) {
    const afterSeq = entry.indexOf(',')
    const afterTime = entry.indexOf(',', afterSeq + 1)
    const lineBreak = entry.indexOf('\n', afterTime + 3)
    const seq = Number(entry.slice(0, afterSeq))
    const event = entry.slice(afterTime + 3, lineBreak)
    const data = entry.slice(lineBreak + 1)
    events.push(entry[afterTime + 1] === '1'
      ? { seq, id: formatEventId(epoch, seq), topic, event, data, last: true }
      : { seq, id: formatEventId(epoch, seq), topic, event, data })
  }
  return events
}

/**
 * A connection of ours (the reader, the replays) from the client passed in. A Cluster's is a
 * Cluster too: the same nodes and options (TLS, password, NAT map), with the per-connection ones
 * under `redisOptions`.
 */
function duplicateOf (client: RedisClient, options: RedisOptions): RedisClient {
  if (!client.isCluster) return (client as Redis).duplicate(options)
  const cluster = client as Cluster
  const { lazyConnect, enableOfflineQueue, retryStrategy, ...perNode } = options
  return cluster.duplicate([], {
    lazyConnect,
    enableOfflineQueue,
    clusterRetryStrategy: retryStrategy,
    // A node's connection that drops fails the read at once, rather than resending it after a
    // delay: the loop resumes itself (what maxRetriesPerRequest: 0 does for one connection).
    retryDelayOnFailover: 0,
    // The log and the lists are read from the master: a replica may be behind what the scripts wrote.
    scaleReads: 'master',
    redisOptions: { ...cluster.options.redisOptions, ...perNode }
  })
}

/** ioredis' default: 50 ms more per attempt, at most 2 s between attempts. */
function reconnectDelay (attempt: number): number {
  return Math.min(attempt * 50, 2000)
}

/**
 * Whether Redis runs as a Cluster node, which spreads keys over nodes by hash slot. Unknown
 * (INFO refused, by an ACL say) counts as not: the scripts then fail if it is one.
 */
async function isClusterNode (client: Redis): Promise<boolean> {
  const info = await client.info('cluster').catch(() => '')
  return /^cluster_enabled:1\b/m.test(info)
}

function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fastify-sse-hub: Redis did not answer within ${ms} ms`)), ms)
    promise.then((value) => {
      clearTimeout(timer)
      resolve(value)
    }, (err: unknown) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

/** A client passed in may still be connecting; its own 'error' while waiting fails the boot. */
async function whenReady (client: RedisClient, signal: AbortSignal): Promise<void> {
  if (client.status === 'ready') return
  if (client.status === 'end') throw new Error('fastify-sse-hub: the ioredis client passed to redisStore() was closed')
  if (client.status === 'wait') client.connect().catch(() => {})
  await once(client, 'ready', { signal })
}

/** Resolves once `client` is ready, the store stops, or `ms` passed. */
function untilReady (client: RedisClient, signal: AbortSignal, ms = Infinity): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      client.off('ready', done)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = ms === Infinity ? undefined : setTimeout(done, ms)
    client.on('ready', done)
    signal.addEventListener('abort', done)
  })
}

/** The URL without credentials, for error messages. */
function describeUrl (url: string): string {
  const { protocol, host } = new URL(url)
  return `${protocol}//${host}`
}
