// The load generator, a process of its own (the runner pins it to the core the server is not
// on): C raw `node:net` clients on GET /events, every one checked to receive every event, in
// order, exactly once. Prints one JSON line with the result and exits; every phase has a
// deadline, so it always ends by itself.
//
//   node load.mjs '{"port":1234,"mode":"burst","clients":1000,"events":200,"size":256}'
//   node load.mjs '{"port":1234,"mode":"burst","clients":1000,"events":200,"size":256,"window":200}'
//     the same burst from a concurrent publisher: 200 publishes in flight, not each awaited
//   node load.mjs '{"port":1234,"mode":"idle","clients":10000}'
//   node load.mjs '{"port":1234,"mode":"users","clients":8000,"topics":"multi","rounds":3,"size":64}'
//     client i on GET /users/i (with ?broadcast=1 for "multi"): one event to each user per round
//   node load.mjs '{"port":1234,"mode":"answers","clients":2000,"tokens":500,"json":false,"pace":0}'
//     C clients each GET /answer?tokens=N at once: every one must get tokens 0 … N − 1 in order,
//     then the end of its response
//   node load.mjs '{"port":1234,"mode":"stall","tokens":10000000}'
//     one client reads the head of GET /answer?stall=1 and stops reading: how much the server holds
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { SseReader } from './common/sse-reader.mjs'
import { runQueueWaitNs } from './common/sched.mjs'

const config = {
  host: '127.0.0.1',
  mode: 'burst',
  events: 0,
  size: 0,
  warm: undefined,
  // Connections waiting for their response head at once: a steady accept load, not a SYN flood
  // that would overflow the listen backlog and measure TCP retransmit timers instead.
  concurrency: 256,
  connectTimeoutMs: 90_000,
  deliverTimeoutMs: 90_000,
  holdMs: 3000,
  // Users mode: 'single' (each stream on its user's topic) or 'multi' (on 'broadcast' too), and
  // the measured rounds after one warm-up round.
  topics: 'single',
  rounds: 3,
  // Answers mode: tokens per answer, JSON tokens, the pace between tokens (ms; 0: a ready source)
  // and the answers run as a warm-up on other connections before the measured ones.
  tokens: 500,
  json: false,
  pace: 0,
  warmClients: 200,
  // Stall mode: how long the stalled answer's source must stay put to count as stalled.
  stableMs: 1000,
  stallTimeoutMs: 30_000,
  ...JSON.parse(process.argv[2] ?? '{}')
}
const { host, port, mode, clients: C, events: N, size: S } = config
// A warm-up burst before the measured one, the same for every contender.
const W = config.warm ?? Math.max(5, Math.min(100, Math.round(20_000 / C)))

const clients = []
let headsReceived = 0
let onAllHeads = () => {}
let failure
let finishing = false
/** Every client is done once it got every event below this sequence number. */
let target = 0
let doneCount = 0
let onAllDone = () => {}
/** Receive time of the socket read being parsed, in ns. */
let now = 0
let measureFrom = Infinity
let latencies = new Float64Array(0)
let latencyCount = 0
let firstStamp = Infinity
let lastReceive = 0

function nowNs () {
  return Number(process.hrtime.bigint())
}

function fail (client, message) {
  if (failure === undefined) failure = `client ${client?.index ?? '-'}: ${message}`
  onAllHeads()
  onAllDone()
}

function openClient (index) {
  const client = { index, next: 0, headSeen: false, closed: false, socket: null }
  const reader = new SseReader({
    head (status) {
      if (status !== 200) return fail(client, `status ${status}`)
      client.headSeen = true
      if (++headsReceived === C) onAllHeads()
      pump()
    },
    tick (seq, stamp) {
      if (seq !== client.next) {
        return fail(client, outOfSequence('event', seq, client.next))
      }
      client.next++
      if (seq >= measureFrom) {
        if (latencyCount < latencies.length) latencies[latencyCount++] = now - stamp
        if (stamp < firstStamp) firstStamp = stamp
        if (now > lastReceive) lastReceive = now
      }
      if (client.next === target && ++doneCount === C) onAllDone()
    },
    event (type) {
      if (type === 'sse-reset') fail(client, 'got sse-reset')
    },
    end () { fail(client, 'response ended') },
    error (message) { fail(client, message) }
  })
  const socket = connect({ host, port, noDelay: true })
  client.socket = socket
  const path = mode === 'users' ? `/users/${index}${config.topics === 'multi' ? '?broadcast=1' : ''}` : '/events'
  socket.on('connect', () => {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`)
  })
  socket.on('data', (chunk) => {
    now = nowNs()
    reader.push(chunk)
  })
  socket.on('error', (err) => {
    if (!finishing) fail(client, err.code ?? err.message)
  })
  socket.on('close', () => {
    client.closed = true
    if (!finishing) fail(client, 'connection closed')
  })
  clients.push(client)
}

let opened = 0
function pump () {
  if (failure !== undefined) return
  while (opened < C && opened - headsReceived < config.concurrency) openClient(opened++)
}

function within (ms, what, wait) {
  let timer
  return Promise.race([
    new Promise((resolve) => wait(resolve)),
    new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms) })
  ]).finally(() => clearTimeout(timer))
}

function get (path, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (text) => { body += text })
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${path}: ${res.statusCode} ${body}`))
        else resolve(JSON.parse(body))
      })
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

async function waitForServerCount (count, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const stats = await get('/stats')
    if (stats.connections >= count) return stats
    if (failure !== undefined) throw new Error(failure)
    if (Date.now() > deadline) throw new Error(`server counts ${stats.connections} of ${count} streams`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

let connectCpuShare = NaN
let connectWaitMs = NaN

async function connectAll () {
  const started = nowNs()
  const cpu = process.cpuUsage()
  const wait = runQueueWaitNs()
  await within(config.connectTimeoutMs, `${C} connections`, (resolve) => {
    onAllHeads = resolve
    pump()
  })
  if (failure !== undefined) throw new Error(failure)
  const acceptMs = (nowNs() - started) / 1e6
  const used = process.cpuUsage(cpu)
  connectCpuShare = (used.user + used.system) / 1000 / acceptMs
  connectWaitMs = (runQueueWaitNs() - wait) / 1e6
  await waitForServerCount(C, 30_000)
  return acceptMs
}

/** Publishes `count` events from `from` and waits until every client has all of them. */
async function deliver (from, count) {
  target = from + count
  doneCount = 0
  const all = within(config.deliverTimeoutMs, `${C} clients x ${count} events`, (resolve) => { onAllDone = resolve })
  const published = get(`/publish?n=${count}&s=${S}&from=${from}${config.window === undefined ? '' : `&w=${config.window}`}`, config.deliverTimeoutMs)
  published.catch((err) => fail(null, err.message))
  await all
  if (failure !== undefined) throw new Error(failure)
  return published
}

function percentile (sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

async function runBurst () {
  const acceptMs = await connectAll()
  await deliver(0, W)
  await new Promise((resolve) => setTimeout(resolve, 100))
  latencies = new Float64Array(C * N)
  measureFrom = W
  const before = await get('/stats')
  const cpuBefore = process.cpuUsage()
  const waitBefore = runQueueWaitNs()
  const { publishMs } = await deliver(W, N)
  const cpuLoad = process.cpuUsage(cpuBefore)
  const loadWaitNs = runQueueWaitNs() - waitBefore
  const after = await get('/stats')
  const deliveries = C * N
  if (latencyCount !== deliveries) throw new Error(`counted ${latencyCount} of ${deliveries} deliveries`)
  const windowNs = lastReceive - firstStamp
  const sorted = latencies.sort()
  const serverCpuUs = (after.cpuUser - before.cpuUser) + (after.cpuSystem - before.cpuSystem)
  return {
    acceptMs,
    deliveries,
    windowMs: windowNs / 1e6,
    publishMs,
    deliveriesPerSec: deliveries / (windowNs / 1e9),
    p50Ms: percentile(sorted, 0.5) / 1e6,
    p99Ms: percentile(sorted, 0.99) / 1e6,
    maxMs: sorted[sorted.length - 1] / 1e6,
    serverCpuNsPerDelivery: (serverCpuUs * 1000) / deliveries,
    loadCpuShare: (cpuLoad.user + cpuLoad.system) / 1000 / (windowNs / 1e6),
    // Time either process was runnable but kept off its core by something else: a disturbed run.
    serverWaitMs: (after.runQueueWaitNs - before.runQueueWaitNs) / 1e6,
    loadWaitMs: loadWaitNs / 1e6
  }
}

async function runIdle () {
  const base = await get('/stats?gc=1')
  const acceptMs = await connectAll()
  const accepted = await get('/stats')
  await new Promise((resolve) => setTimeout(resolve, config.holdMs))
  const held = await get('/stats?gc=1')
  if (failure !== undefined) throw new Error(failure)
  const open = clients.filter((client) => !client.closed && client.headSeen).length
  if (open !== C || held.connections !== C) throw new Error(`only ${open} clients open, server counts ${held.connections}`)
  return {
    acceptMs,
    acceptPerSec: C / (acceptMs / 1000),
    // Server CPU spent accepting and opening the streams: steadier than wall time on a busy machine.
    loadCpuShare: connectCpuShare,
    serverWaitMs: (accepted.runQueueWaitNs - base.runQueueWaitNs) / 1e6,
    loadWaitMs: connectWaitMs,
    serverCpuUsPerAccept: ((accepted.cpuUser - base.cpuUser) + (accepted.cpuSystem - base.cpuSystem)) / C,
    serverSysUsPerAccept: (accepted.cpuSystem - base.cpuSystem) / C,
    rssPerConnKiB: (held.rss - base.rss) / C / 1024,
    heapPerConnKiB: (held.heapUsed - base.heapUsed) / C / 1024,
    rssBaseMiB: base.rss / 1048576,
    rssHeldMiB: held.rss / 1048576
  }
}

/**
 * Users mode: round 0 warms up, then each round sends event `seq` = round to every user's topic,
 * one publish per user in one loop on the server; every client must get exactly its own event.
 * Per round: the server's blocked time, and the time from the first publish to the last receipt.
 */
async function runUsers () {
  if (config.topics !== 'single' && config.topics !== 'multi') throw new Error('topics must be single or multi')
  const acceptMs = await connectAll()
  const rounds = []
  for (let round = 0; round <= config.rounds; round++) {
    target = round + 1
    doneCount = 0
    measureFrom = round
    firstStamp = Infinity
    lastReceive = 0
    const all = within(config.deliverTimeoutMs, `${C} users x 1 event`, (resolve) => { onAllDone = resolve })
    const published = get(`/publish-users?n=${C}&s=${S}&seq=${round}`, config.deliverTimeoutMs)
    published.catch((err) => fail(null, err.message))
    await all
    if (failure !== undefined) throw new Error(failure)
    const server = await published
    if (round > 0) rounds.push({ ...server, deliveryMs: (lastReceive - firstStamp) / 1e6 })
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const mid = (key) => {
    const sorted = rounds.map((r) => r[key]).sort((a, b) => a - b)
    const half = sorted.length >> 1
    return sorted.length % 2 === 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2
  }
  return {
    topics: config.topics,
    acceptMs,
    // Each figure's median over the measured rounds; the rounds themselves are kept.
    blockedMs: mid('blockedMs'),
    loopMs: mid('loopMs'),
    cpuMs: mid('cpuMs'),
    deliveryMs: mid('deliveryMs'),
    serverWaitMs: mid('waitMs'),
    rounds
  }
}

/**
 * Answers mode: `count` connections opened (at most `concurrency` connecting at once), then a
 * GET /answer on every one in one loop. Each client must get tokens 0 … N − 1, in order, then the
 * end of its response. Resolves with the time the first request went out; records latencies and
 * the last receipt when `measure`.
 */
async function answerRound (count, measure) {
  const N = config.tokens
  const path = `/answer?tokens=${N}${config.json ? '&json=1' : ''}${config.pace > 0 ? `&pace=${config.pace}` : ''}`
  const round = []
  let connected = 0
  let done = 0
  let onConnected = () => {}
  let onDone = () => {}
  const open = (index) => {
    const client = { index, next: 0, done: false, socket: null }
    const reader = new SseReader({
      head (status) {
        if (status !== 200) fail(client, `status ${status}`)
      },
      tick (seq, stamp) {
        if (seq !== client.next) {
          return fail(client, outOfSequence('token', seq, client.next))
        }
        client.next++
        if (measure) {
          latencies[latencyCount++] = now - stamp
          if (now > lastReceive) lastReceive = now
        }
      },
      event (type) {
        if (type === 'sse-reset') fail(client, 'got sse-reset')
      },
      end () {
        if (client.next !== N) return fail(client, `answer ended after ${client.next} of ${N} tokens`)
        client.done = true
        if (++done === count) onDone()
      },
      error (message) { fail(client, message) }
    })
    const socket = connect({ host, port, noDelay: true })
    client.socket = socket
    socket.on('connect', () => {
      if (++connected === count) onConnected()
      else connectMore()
    })
    socket.on('data', (chunk) => {
      now = nowNs()
      reader.push(chunk)
    })
    socket.on('error', (err) => {
      if (!client.done && !finishing) fail(client, err.code ?? err.message)
    })
    socket.on('close', () => {
      if (!client.done && !finishing) fail(client, `connection closed after ${client.next} of ${N} tokens`)
    })
    round.push(client)
  }
  let opened = 0
  const connectMore = () => {
    if (failure !== undefined) return
    while (opened < count && opened - connected < config.concurrency) open(opened++)
  }
  await within(config.connectTimeoutMs, `${count} connections`, (resolve) => {
    onConnected = resolve
    onAllHeads = resolve
    connectMore()
  })
  if (failure !== undefined) throw new Error(failure)
  const all = within(config.deliverTimeoutMs, `${count} answers of ${N} tokens`, (resolve) => {
    onDone = resolve
    onAllDone = resolve
  })
  const request = `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`
  const sentAt = nowNs()
  for (const client of round) client.socket.write(request)
  await all
  if (failure !== undefined) throw new Error(failure)
  return { sentAt, round }
}

async function runAnswers () {
  const N = config.tokens
  const warm = Math.min(C, config.warmClients)
  if (warm > 0) {
    const { round } = await answerRound(warm, false)
    for (const client of round) client.socket.resetAndDestroy()
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  const tokens = C * N
  latencies = new Float64Array(tokens)
  const before = await get('/stats')
  const cpuBefore = process.cpuUsage()
  const waitBefore = runQueueWaitNs()
  const { sentAt, round } = await answerRound(C, true)
  const cpuLoad = process.cpuUsage(cpuBefore)
  const loadWaitNs = runQueueWaitNs() - waitBefore
  const after = await get('/stats')
  for (const client of round) clients.push(client)
  if (latencyCount !== tokens) throw new Error(`counted ${latencyCount} of ${tokens} tokens`)
  const windowNs = lastReceive - sentAt
  const sorted = latencies.sort()
  const serverCpuUs = (after.cpuUser - before.cpuUser) + (after.cpuSystem - before.cpuSystem)
  return {
    tokens,
    warmClients: warm,
    windowMs: windowNs / 1e6,
    tokensPerSec: tokens / (windowNs / 1e9),
    p50Ms: percentile(sorted, 0.5) / 1e6,
    p99Ms: percentile(sorted, 0.99) / 1e6,
    maxMs: sorted[sorted.length - 1] / 1e6,
    serverCpuUsPerToken: serverCpuUs / tokens,
    loadCpuShare: (cpuLoad.user + cpuLoad.system) / 1000 / (windowNs / 1e6),
    rssPeakMiB: after.maxRss / 1048576,
    rssAfterMiB: after.rss / 1048576,
    serverWaitMs: (after.runQueueWaitNs - before.runQueueWaitNs) / 1e6,
    loadWaitMs: loadWaitNs / 1e6
  }
}

/**
 * Stall mode: one client sends GET /answer?stall=1 for a long answer, reads its first bytes (the
 * head) and stops reading. Once the source stopped moving (`stableMs`), the server's own account
 * (GET /answer-stats): tokens pulled, bytes it holds for the client, and its bound. A contender
 * whose bound is the contract under test (`asserted`) fails the run if it holds more than
 * highWaterMark + one message.
 */
async function runStall () {
  const path = `/answer?tokens=${config.tokens}&stall=1`
  let received = 0
  let status
  const client = { index: 0 }
  const socket = connect({ host, port, noDelay: true })
  clients.push({ socket })
  socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAccept: text/event-stream\r\n\r\n`))
  socket.on('error', (err) => { if (!finishing) fail(client, err.code ?? err.message) })
  socket.on('close', () => { if (!finishing) fail(client, 'connection closed') })
  await within(config.connectTimeoutMs, 'the stalled answer\'s head', (resolve) => {
    onAllHeads = resolve
    socket.on('data', (chunk) => {
      // Only the first read: the head (and whatever came with it); then nothing more is read.
      if (received === 0) {
        status = Number(chunk.toString('latin1', 0, 16).split(' ')[1])
        socket.pause()
        resolve()
      }
      received += chunk.length
    })
  })
  if (status !== 200) throw new Error(`status ${status}`)
  const started = Date.now()
  let last = await get('/answer-stats')
  let stableSince = Date.now()
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    if (failure !== undefined) throw new Error(failure)
    const stats = await get('/answer-stats')
    if (!stats.started || stats.pulled !== last.pulled || stats.heldBytes !== last.heldBytes) stableSince = Date.now()
    last = stats
    if (last.started && Date.now() - stableSince >= config.stableMs) break
    if (Date.now() - started > config.stallTimeoutMs) throw new Error(`the source still moves after ${config.stallTimeoutMs} ms (${last.pulled} tokens pulled)`)
  }
  const bound = last.highWaterMark + last.frameBytes
  const result = {
    pulled: last.pulled,
    pulledBytes: last.pulled * last.frameBytes,
    heldBytes: last.heldBytes,
    resBytes: last.resBytes,
    socketBytes: last.socketBytes,
    highWaterMark: last.highWaterMark,
    frameBytes: last.frameBytes,
    bound,
    withinBound: last.heldBytes <= bound,
    asserted: last.asserted,
    clientReadBytes: received,
    stallMs: stableSince - started,
    rssMiB: last.rss / 1048576
  }
  if (last.asserted && !result.withinBound) {
    throw new Error(`the server holds ${last.heldBytes} B for the stalled client, over highWaterMark ${last.highWaterMark} + one message ${last.frameBytes} = ${bound} B`)
  }
  return result
}

function finish (result) {
  finishing = true
  // A reset leaves no TIME_WAIT behind, so runs back to back never run short of ports.
  for (const client of clients) client.socket.resetAndDestroy()
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0))
}

const hardStop = setTimeout(() => finish({ ok: false, error: 'load generator deadline' }), config.connectTimeoutMs + 3 * config.deliverTimeoutMs)
hardStop.unref()

try {
  if (mode === 'answers' || mode === 'stall') {
    const result = mode === 'answers' ? await runAnswers() : await runStall()
    finish({ ok: true, mode, clients: C, perAnswer: config.tokens, json: config.json, pace: config.pace, ...result })
  } else {
    const result = mode === 'idle' ? await runIdle() : mode === 'users' ? await runUsers() : await runBurst()
    finish({ ok: true, mode, clients: C, events: N, size: S, warm: W, ...result })
  }
} catch (err) {
  finish({ ok: false, mode, clients: C, events: N, size: S, error: failure ?? err.message })
}

/** Why `seq` is not the `expected` one: a repeat (or one out of order), or a gap. */
function outOfSequence (what, seq, expected) {
  return seq < expected
    ? `${what} ${seq} repeated or out of order (after ${expected - 1})`
    : `${what} ${expected} missing (got ${seq})`
}
