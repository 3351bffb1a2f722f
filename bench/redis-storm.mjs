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
// Reported per repetition: publish latency p50 / p99 / max in the steady phase (its last
// second-and-more before the storm) and during the storm (publishes called from the first
// connect until every client had its replay), the ratio of the p99s, the storm's duration, and
// the steady phase after it. The target after the rewrite: storm p99 ≤ 2× steady p99.
//
// Redis and the instances are pinned to core 0, the client process to core 1 (the coordinator
// only paces the publisher). Imports the built plugin from dist/: run `npm run build` first
// (`npm run bench:redis-storm` does).
//
//   node bench/redis-storm.mjs                      3 repetitions, ~15 s each
//   node bench/redis-storm.mjs --reps=3 --clients=1000 --rate=200 --missed=200 --steady=6000 --after=3000
//   node bench/redis-storm.mjs --alt=/path/to/checkout   both builds, interleaved
//   --timeout=ms (the store's, 5000)  --json (one JSON line)  --deadline=ms per run (120000)
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { buildsToCompare, deadlineFor, rotating, runMain } from './common/compare.mjs'
import { flags, numberFlag, percentile } from './common/flags.mjs'
import { hubInstance } from './common/hub-instance.mjs'
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
  const app = await hubInstance({ root: args.root, redis, options: { history: HISTORY } })
  const size = Number(args.size)
  process.on('message', (message) => {
    if (message.type === 'publish') publishOne(app, message.k, size)
    if (message.type === 'close') app.close().finally(() => process.exit(0))
  })
  process.send({ type: 'listening', port: app.server.address().port })
}

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
  const request = (port) => `GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nLast-Event-ID: ${args.lastEventId}\r\n\r\n`
  const result = { startedAt: now(), doneAt: 0, done: 0, events: 0, resets: 0, failures: [] }
  const finish = () => {
    result.doneAt = now()
    process.send({ type: 'stormed', ...result })
  }
  for (let i = 0; i < count; i++) {
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
      event: (type) => { if (type === 'sse-reset') result.resets++ },
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
    pool = forkPinned(CLIENT_CORE, SELF, ['--role=clients', `--ports=${ports.join(',')}`, `--clients=${options.clients}`, `--lastEventId=${resumeFrom.id}`, `--target=${newest}`])
    const storm = await nextMessage(pool, 'stormed', { timeoutMs: 90_000 })
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
    clientsDone: storm.done,
    clientFailures: storm.failures.length,
    failureKinds: [...new Set(storm.failures)].slice(0, 5),
    resets: storm.resets,
    replayedEvents: storm.events,
    resumedAtK: newest,
    published: sent,
    unsettled: sent - settled.size
  }
}

function humanLine (r) {
  const ms = (l) => `p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms (${l.samples} publishes${l.failed > 0 ? `, ${l.failed} failed` : ''})`
  return `${r.build}: steady ${ms(r.steady)}; storm ${ms(r.storm)} over ${r.stormMs} ms; storm p99 / steady p99 = ${r.p99Ratio}×; ` +
    `after ${ms(r.after)}; ${r.clientsDone} clients got their replay${r.clientFailures > 0 ? `, ${r.clientFailures} failed (${r.failureKinds.join('; ')})` : ''}, ${r.resets} sse-reset`
}

async function main () {
  const options = {
    clients: numberFlag(args, 'clients', 1000),
    rate: numberFlag(args, 'rate', 200),
    size: numberFlag(args, 'size', 100),
    missed: numberFlag(args, 'missed', 200),
    steady: numberFlag(args, 'steady', 6000),
    after: numberFlag(args, 'after', 3000),
    timeout: numberFlag(args, 'timeout', 5000)
  }
  const reps = numberFlag(args, 'reps', 3)
  if (options.missed >= HISTORY) throw new Error(`--missed must stay below the history (${HISTORY}): the clients would be reset, not replayed`)
  const builds = buildsToCompare(args)
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
  const report = { bench: 'redis-storm', node: process.version, pinned: hasTaskset, history: HISTORY, options, reps, builds: builds.map(({ id, root, commit }) => ({ id, root, commit })), summary, runs }
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
