// Replays never starve publishes (issue 13): publish latency through the Redis store while
// 1,000 clients reconnect at once with a Last-Event-ID. A private redis-server; two app
// instances (processes) with `redisStore({ url })` and topic history 1000; a steady publisher,
// --rate (200) events/s of --size (100) bytes, round-robin from both instances, each publish's
// latency (call → resolve, in the instance) recorded. Phase 1: steady, no clients, --steady ms
// (which also fills the history). Then --clients (1,000) raw node:net clients (as in
// bench/reconnect-storm.mjs) connect at once, spread over both instances, each with the
// Last-Event-ID of the event --missed (200) events before the newest (a deploy's worth); a
// client is done once its replay reached the newest event at the storm's start, and then hangs
// up (so the fan-out of the steady events to 1,000 clients is not what is measured after it).
// Then steady again for --after ms.
//
// --spread=ms: the clients come back at random times over that window instead of at once, as
// after a deploy with `shutdownSpread` (its default is 5000); each still resumes from the same id,
// so a late one is owed more (past the history of 1,000: `sse-reset` expired, then all of it).
// --floor: also runs, interleaved, the same storm against GET /plain, a bare route of the same
// instances that writes the bytes the replay would be (no plugin, no store): what taking the
// storm's requests on this machine costs any app, the least a publish can be delayed by.
//
// Reported per repetition: publish latency p50 / p99 / max in the steady phase (its last
// second-and-more before the storm) and during the storm (publishes called from the first
// connect until every client had its replay), the ratio of the p99s, the storm's duration, and
// the steady phase after it; per instance over the storm, its CPU time, its event-loop delay
// (p99 / max) and the Redis commands it sent. The target: storm p99 ≤ 2× steady p99.
//
// Redis and the instances are pinned to core 0, the client process to core 1 (the coordinator
// only paces the publisher). Imports the built plugin from dist/: run `npm run build` first
// (`npm run bench:redis-storm` does).
//
//   node bench/redis-storm.mjs                      3 repetitions, ~15 s each
//   node bench/redis-storm.mjs --reps=3 --clients=1000 --rate=200 --missed=200 --steady=6000 --after=3000
//   node bench/redis-storm.mjs --alt=/path/to/checkout   both builds, interleaved
//   node bench/redis-storm.mjs --floor --spread=5000      beside the bare route, clients over 5 s
//   --timeout=ms (the store's, 5000)  --json (one JSON line)  --deadline=ms per run (120000)
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { buildsToCompare, deadlineFor, rotating, runMain } from './common/compare.mjs'
import { flags, numberFlag, numberFlags, percentile } from './common/flags.mjs'
import { countRedisCommands, hubInstance, sentBetween } from './common/hub-instance.mjs'
import { endChild, exitWithParent, forkPinned, nextMessage } from './common/ipc.mjs'
import { pacedPublisher } from './common/paced.mjs'
import { EVENT_NAME, makeData } from './common/payload.mjs'
import { hasTaskset } from './common/pinned.mjs'
import { privateRedis } from './common/redis-server.mjs'
import { SseReader } from './common/sse-reader.mjs'
import { median } from './report.mjs'

const SELF = fileURLToPath(import.meta.url)
const args = flags()
const SERVER_CORE = 0
const CLIENT_CORE = 1
const HISTORY = 1000
/** Publishes called in this first part of the steady phase are left out (warming up). */
const WARM_MS = 1000
/** Wall-clock ms with sub-ms precision, comparable between the processes of the run. */
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** An app instance: publishes event k when told; reports its id and the publish's latency. */
async function appRole () {
  exitWithParent()
  const redis = { url: args.url, keyPrefix: args.prefix, timeout: Number(args.timeout) }
  const commands = countRedisCommands(args.root)
  const app = await hubInstance({ root: args.root, redis, options: { history: HISTORY }, routes: plainRoute })
  let sentBefore
  let cpuBefore
  const size = Number(args.size)
  // How long the event loop went without a turn, from the storm's start to its end.
  const stalls = monitorEventLoopDelay({ resolution: 1 })
  process.on('message', (message) => {
    if (message.type === 'publish') {
      newestK = message.k
      publishOne(app, message.k, size)
    }
    if (message.type === 'storm-start') {
      stalls.reset()
      stalls.enable()
      sentBefore = commands.snapshot()
      cpuBefore = process.cpuUsage()
    }
    if (message.type === 'storm-end') {
      stalls.disable()
      process.send({ type: 'stalls', p99: stalls.percentile(99) / 1e6, max: stalls.max / 1e6, cpuMs: cpuMs(process.cpuUsage(cpuBefore)), sent: sentBetween(sentBefore, commands.snapshot()) })
    }
    if (message.type === 'close') app.close().finally(() => process.exit(0))
  })
  process.send({ type: 'listening', port: app.server.address().port })
}

/**
 * GET /plain?from=: the floor. The bytes a replay of events from+1 to the newest this instance
 * published would be, written at once by a bare route (no plugin, no store): what taking the
 * storm's requests costs any app.
 */
function plainRoute (app) {
  const size = Number(args.size)
  const bodies = new Map()
  const framesOf = (from, to) => {
    let body = bodies.get(`${from}-${to}`)
    if (body === undefined) {
      const frames = []
      for (let k = from + 1; k <= to; k++) frames.push(`id: plain-${k}\nevent: ${EVENT_NAME}\ndata: ${JSON.stringify(makeData(k, size))}\n\n`)
      body = Buffer.from(frames.join(''))
      bodies.set(`${from}-${to}`, body)
    }
    return body
  }
  app.get('/plain', (request, reply) => {
    reply.hijack()
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    reply.raw.write(framesOf(Number(request.query.from), newestK))
  })
}

/** The newest event this instance was told to publish. */
let newestK = 0

const cpuMs = ({ user, system }) => Math.round((user + system) / 1000)

function publishOne (app, k, size) {
  const calledAt = now()
  const started = process.hrtime.bigint()
  app.sse.publish({ event: EVENT_NAME, data: makeData(k, size) }).then(
    ({ id }) => process.send({ type: 'published', k, id, calledAt, ms: Number(process.hrtime.bigint() - started) / 1e6 }),
    (err) => process.send({ type: 'published', k, calledAt, error: err.code ?? err.message })
  )
}

/** The storm: --clients raw sockets at once; each done when it has event --target. */
async function clientsRole () {
  exitWithParent()
  const ports = args.ports.split(',')
  const count = Number(args.clients)
  const target = Number(args.target)
  const spread = Number(args.spread)
  const path = args.route === 'plain' ? `/plain?from=${target - Number(args.missed)}` : '/events'
  const request = (port) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nLast-Event-ID: ${args.lastEventId}\r\n\r\n`
  const result = { startedAt: now(), doneAt: 0, done: 0, events: 0, resets: 0, resetReasons: {}, failures: [] }
  const finish = () => {
    result.doneAt = now()
    process.send({ type: 'stormed', ...result })
  }
  for (let i = 0; i < count; i++) {
    if (spread > 0) setTimeout(() => reconnect(i), Math.random() * spread)
    else reconnect(i)
  }
  function reconnect (i) {
    const port = ports[i % ports.length]
    const socket = connect(Number(port), '127.0.0.1')
    let finished = false
    const fail = (why) => {
      if (finished) return
      finished = true
      result.failures.push(why)
      socket.destroy()
      if (result.done + result.failures.length === count) finish()
    }
    const reader = new SseReader({
      head: (status) => { if (status !== 200) fail(`HTTP ${status}`) },
      event: (type, data) => {
        if (type !== 'sse-reset') return
        result.resets++
        const reason = JSON.parse(data).reason
        result.resetReasons[reason] = (result.resetReasons[reason] ?? 0) + 1
      },
      tick: (seq) => {
        result.events++
        if (finished || seq < target) return
        finished = true
        socket.destroy()
        if (++result.done + result.failures.length === count) finish()
      },
      end: () => fail('stream ended'),
      error: fail
    })
    socket.on('data', (chunk) => reader.push(chunk))
    socket.on('error', (err) => fail(err.code ?? err.message))
    socket.write(request(port))
  }
}

/** One repetition with one build: fresh Redis and instances; resolves the latencies by phase. */
async function run (build, options) {
  const redis = await privateRedis({ core: SERVER_CORE })
  const prefix = `sse-bench-${randomBytes(4).toString('hex')}`
  const appArgs = ['--role=app', `--root=${build.root}`, `--url=${redis.url}`, `--prefix=${prefix}`, `--timeout=${options.timeout}`, `--size=${options.size}`]
  const apps = [0, 1].map(() => forkPinned(SERVER_CORE, SELF, appArgs))
  let pool
  try {
    const ports = (await Promise.all(apps.map((app) => nextMessage(app, 'listening')))).map((m) => m.port)
    const settled = new Map()
    for (const app of apps) app.on('message', (message) => { if (message.type === 'published') settled.set(message.k, message) })
    const startedAt = now()
    const publisher = pacedPublisher(apps, options.rate)
    await sleep(options.steady)
    // The newest event resolved so far, and the one `missed` before it: where the clients resume.
    const newest = Math.max(...[...settled.values()].filter((m) => m.id !== undefined).map((m) => m.k))
    const resumeFrom = settled.get(newest - options.missed)
    if (resumeFrom?.id === undefined) throw new Error(`event ${newest - options.missed} was not published: lower --missed or raise --steady`)
    for (const app of apps) app.send({ type: 'storm-start' })
    pool = forkPinned(CLIENT_CORE, SELF, ['--role=clients', `--ports=${ports.join(',')}`, `--clients=${options.clients}`, `--lastEventId=${resumeFrom.id}`, `--target=${newest}`,
      `--route=${build.route ?? 'events'}`, `--missed=${options.missed}`, `--spread=${options.spread}`])
    const storm = await nextMessage(pool, 'stormed', { timeoutMs: 90_000 })
    const stalled = Promise.all(apps.map((app) => nextMessage(app, 'stalls')))
    for (const app of apps) app.send({ type: 'storm-end' })
    storm.stalls = await stalled
    await sleep(options.after)
    const sent = publisher.stop()
    await sleep(Math.min(2 * options.timeout, 3000))
    return summarizeRun(build, settled, sent, { startedAt, storm, newest })
  } finally {
    await Promise.all([pool, ...apps].filter(Boolean).map((proc) => endChild(proc)))
    await redis.stop()
  }
}

function latencies (settled, from, to) {
  const ms = []
  let failed = 0
  for (const m of settled.values()) {
    if (m.calledAt < from || m.calledAt >= to) continue
    if (m.error === undefined) ms.push(m.ms)
    else failed++
  }
  const sorted = Float64Array.from(ms).sort()
  return { samples: sorted.length, failed, p50: round(percentile(sorted, 0.5)), p99: round(percentile(sorted, 0.99)), max: round(sorted[sorted.length - 1]) }
}

function round (ms) {
  return Number.isFinite(ms) ? Number(ms.toFixed(2)) : null
}

function summarizeRun (build, settled, sent, { startedAt, storm, newest }) {
  const steady = latencies(settled, startedAt + WARM_MS, storm.startedAt)
  const during = latencies(settled, storm.startedAt, storm.doneAt)
  const after = latencies(settled, storm.doneAt, Infinity)
  return {
    build: build.id,
    steady,
    storm: during,
    after,
    p99Ratio: round(during.p99 / steady.p99),
    stormMs: Math.round(storm.doneAt - storm.startedAt),
    stormLoopDelayMs: storm.stalls.map(({ p99, max }) => ({ p99: round(p99), max: round(max) })),
    stormCpuMs: storm.stalls.map(({ cpuMs }) => cpuMs),
    stormCommands: storm.stalls.map(({ sent }) => sent),
    clientsDone: storm.done,
    clientFailures: storm.failures.length,
    failureKinds: [...new Set(storm.failures)].slice(0, 5),
    resets: storm.resets,
    resetReasons: storm.resetReasons,
    replayedEvents: storm.events,
    resumedAtK: newest,
    published: sent,
    unsettled: sent - settled.size
  }
}

function humanLine (r) {
  const ms = (l) => `p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms (${l.samples} publishes${l.failed > 0 ? `, ${l.failed} failed` : ''})`
  return `${r.build}: steady ${ms(r.steady)}; storm ${ms(r.storm)} over ${r.stormMs} ms (per instance: CPU ${r.stormCpuMs.join(', ')} ms, event-loop delay p99/max ${r.stormLoopDelayMs.map((d) => `${d.p99}/${d.max} ms`).join(', ')}); storm p99 / steady p99 = ${r.p99Ratio}×; ` +
    `after ${ms(r.after)}; ${r.clientsDone} clients got their replay${r.clientFailures > 0 ? `, ${r.clientFailures} failed (${r.failureKinds.join('; ')})` : ''}, ${r.resets} sse-reset${r.resets > 0 ? ` ${JSON.stringify(r.resetReasons)}` : ''}`
}

async function main () {
  const options = numberFlags(args, {
    clients: 1000,
    rate: 200,
    size: 100,
    missed: 200,
    steady: 6000,
    after: 3000,
    timeout: 5000,
    spread: 0
  })
  const reps = numberFlag(args, 'reps', 3)
  if (options.missed >= HISTORY) throw new Error(`--missed must stay below the history (${HISTORY}): the clients would be reset, not replayed`)
  const builds = buildsToCompare(args)
  if (args.floor === 'true') builds.push({ id: 'floor', root: builds[0].root, commit: builds[0].commit, route: 'plain' })
  const deadline = deadlineFor('redis-storm', numberFlag(args, 'deadline', 120_000) * reps * builds.length)
  const runs = await rotating(builds, reps, async (build, rep) => {
    const result = await run(build, options)
    if (args.json !== 'true') console.log(`rep ${rep + 1} ${humanLine(result)}`)
    return result
  })
  clearTimeout(deadline)
  const summary = Object.fromEntries(builds.map((build) => {
    const mine = runs.filter((r) => r.build === build.id)
    return [build.id, {
      runs: mine.length,
      steadyP99: median(mine.map((r) => r.steady.p99)),
      stormP99: median(mine.map((r) => r.storm.p99)),
      p99Ratio: median(mine.map((r) => r.p99Ratio)),
      p99RatioEach: mine.map((r) => r.p99Ratio),
      stormMs: median(mine.map((r) => r.stormMs)),
      targetMet: median(mine.map((r) => r.p99Ratio)) <= 2
    }]
  }))
  const report = { bench: 'redis-storm', node: process.version, pinned: hasTaskset, history: HISTORY, options, reps, builds: builds.map(({ id, root, commit, route }) => ({ id, root, commit, route })), summary, runs }
  if (args.json !== 'true') {
    for (const [id, s] of Object.entries(summary)) {
      console.log(`${id}, median of ${s.runs}: steady p99 ${s.steadyP99} ms, storm p99 ${s.stormP99} ms, ratio ${s.p99Ratio}× (each ${s.p99RatioEach.join(', ')}), ` +
        `storm ${s.stormMs} ms; target storm p99 ≤ 2× steady: ${s.targetMet ? 'MET' : 'NOT MET'}`)
    }
  }
  console.log(JSON.stringify(report, null, args.json === 'true' ? 0 : 2))
}

if (args.role === 'app') await appRole()
else if (args.role === 'clients') await clientsRole()
else runMain(main)
