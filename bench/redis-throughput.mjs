// Publish throughput into one Redis (issue 13): publishes/s from one app instance with the Redis
// store, and the Redis commands each event costs, against the memory store in the same loops.
// Two publishers: `window`, a concurrent one that keeps --window (200) publishes in flight (a
// new one starts as soon as one resolves), and `awaited`, `await publish()` one at a time. Each
// loop runs --seconds or --events, whichever ends first, after --warm events of the same loop;
// both loops yield to the event loop every 100 events (bench/common/server-kit.mjs).
//
// A private redis-server on a spare port, pinned to core 0; each (build, store, loop) runs in a
// fresh app process pinned to core 1, so Redis and the app never share a core (as if Redis were
// on another host, over loopback). Runs interleave: every repetition runs every case, in an
// order that rotates. Redis commands per event: INFO commandstats before and after the measured
// loop (the INFO calls themselves left out): the store's EVALSHA calls and its reader's XREAD
// calls (one XREAD returns up to 1000 events), divided by the events published. No clients by
// default (--clients=N opens N raw SSE clients on the instance, which must get every event).
// Imports the built plugin from dist/: run `npm run build` first (`npm run bench:redis-throughput` does).
//
//   node bench/redis-throughput.mjs                       3 repetitions, 3 s per loop
//   node bench/redis-throughput.mjs --reps=5 --seconds=2 --events=100000 --window=200 --warm=2000
//   (--events caps a loop: 5,000,000 by default, so the memory store's loops run --seconds too)
//   node bench/redis-throughput.mjs --alt=/path/to/checkout   adds that checkout's dist/, interleaved
//   --clients=1  --size=64 (bytes of event data)  --json (one JSON line)  --deadline=ms (300000)
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { connect } from 'node:net'
import { buildsToCompare, deadlineFor, rotating, runMain } from './common/compare.mjs'
import { flags, numberFlag, numberFlags } from './common/flags.mjs'
import { countRedisCommands, hubInstance, sentBetween } from './common/hub-instance.mjs'
import { endChild, exitWithParent, forkPinned, nextMessage } from './common/ipc.mjs'
import { EVENT_NAME, makeData } from './common/payload.mjs'
import { hasTaskset } from './common/pinned.mjs'
import { adminClient, callsBetween, commandCalls, deleteKeys, privateRedis } from './common/redis-server.mjs'
import { publishAwaited, publishWindowed } from './common/server-kit.mjs'
import { SseReader } from './common/sse-reader.mjs'
import { median } from './report.mjs'

const SELF = fileURLToPath(import.meta.url)
const args = flags()
const REDIS_CORE = 0
const APP_CORE = 1
const STORES = ['memory', 'redis']
const LOOPS = ['window', 'awaited']

/** The app process: one instance, one store; on `run`, warms up, then measures one loop. */
async function appRole () {
  exitWithParent()
  const store = args.store
  const redis = store === 'redis' ? { url: args.url, keyPrefix: args.prefix, timeout: 5000 } : undefined
  const sent = store === 'redis' ? countRedisCommands(args.root) : undefined
  const app = await hubInstance({ root: args.root, redis, options: { history: 1000 } })
  const admin = store === 'redis' ? adminClient(args.url) : undefined
  process.on('message', async (message) => {
    if (message.type === 'run') process.send({ type: 'result', ...(await measure(app, admin, sent, message)) })
    if (message.type === 'close') {
      admin?.disconnect()
      await app.close()
      process.exit(0)
    }
  })
  process.send({ type: 'listening', port: app.server.address().port })
}

async function measure (app, admin, sent, { loop, window, seconds, events, warm, size }) {
  let seq = 0
  const publish = () => app.sse.publish({ event: EVENT_NAME, data: makeData(seq++, size) })
  const run = (more) => loop === 'window' ? publishWindowed(window, more, publish) : publishAwaited(more, publish)
  await run((i) => i < warm)
  const before = admin === undefined ? undefined : await commandCalls(admin)
  const sentBefore = sent?.snapshot()
  const started = performance.now()
  const deadline = started + seconds * 1000
  const published = await run((i) => i < events && performance.now() < deadline)
  const ms = performance.now() - started
  // What the instance sent (its round trips), and what Redis ran (commands inside scripts too).
  const sentDuring = sent === undefined ? undefined : sentBetween(sentBefore, sent.snapshot())
  const calls = admin === undefined ? undefined : callsBetween(before, await commandCalls(admin))
  return { published, warm, ms, eventsPerSec: published / (ms / 1000), sent: sentDuring, calls }
}

/** N raw SSE clients on the instance; `received()` is the fewest events any of them got. */
async function openClients (port, count) {
  const counts = new Array(count).fill(0)
  const sockets = []
  await Promise.all(counts.map((_, i) => new Promise((resolve, reject) => {
    const reader = new SseReader({
      head: (status) => status === 200 ? resolve() : reject(new Error(`client ${i}: HTTP ${status}`)),
      event: () => {},
      tick: () => { counts[i]++ },
      end: () => {},
      error: reject
    })
    const socket = connect(port, '127.0.0.1')
    sockets.push(socket)
    socket.on('data', (chunk) => reader.push(chunk))
    socket.on('error', reject)
    socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n')
  })))
  return { received: () => Math.min(...counts), close: () => { for (const socket of sockets) socket.destroy() } }
}

async function runCase (redis, admin, build, store, loop, options) {
  const prefix = `sse-bench-${randomBytes(4).toString('hex')}`
  const app = forkPinned(APP_CORE, SELF, ['--role=app', `--store=${store}`, `--root=${build.root}`, `--url=${redis.url}`, `--prefix=${prefix}`])
  try {
    const { port } = await nextMessage(app, 'listening')
    const clients = options.clients > 0 ? await openClients(port, options.clients) : undefined
    const answered = nextMessage(app, 'result', { timeoutMs: options.seconds * 1000 + 60_000 })
    app.send({ type: 'run', loop, ...options })
    const result = await answered
    if (clients !== undefined) {
      // Every event reaches the clients by now, or soon: give them a moment, then count.
      const expected = result.warm + result.published
      for (let i = 0; i < 50 && clients.received() < expected; i++) await new Promise((resolve) => setTimeout(resolve, 100))
      result.clientsReceived = clients.received()
      result.clientsMissed = expected - result.clientsReceived
      clients.close()
    }
    return result
  } finally {
    await endChild(app)
    if (store === 'redis') await deleteKeys(admin, prefix)
  }
}

function caseId (build, store, loop) {
  return `${build.id}/${store}/${loop}`
}

function summarize (builds, runs, reps) {
  const out = {}
  const pick = (rep, id) => runs.find((run) => run.rep === rep && run.id === id)
  const ratioEach = (a, b, field) => [...Array(reps).keys()].map((rep) => pick(rep, a)?.[field] / pick(rep, b)?.[field]).filter(Number.isFinite)
  for (const build of builds) {
    for (const store of STORES) {
      for (const loop of LOOPS) {
        const id = caseId(build, store, loop)
        const mine = runs.filter((run) => run.id === id)
        const perEvent = (count) => median(mine.map((run) => count(run) / run.published))
        const row = {
          eventsPerSec: median(mine.map((run) => run.eventsPerSec)),
          eventsPerSecEach: mine.map((run) => Math.round(run.eventsPerSec)),
          published: median(mine.map((run) => run.published))
        }
        if (store === 'redis') {
          // Sent by the instance (its store's ioredis connections, the reader's too): round trips.
          row.roundTripsPerEvent = perEvent((run) => run.sent.roundTrips)
          row.sentPerEvent = Object.fromEntries(Object.keys(mine[0].sent.byCommand).map((name) => [name, perEvent((run) => run.sent.byCommand[name] ?? 0)]))
          // Run by Redis (INFO commandstats): script calls, the reader's XREADs, and every command
          // the scripts ran inside.
          row.scriptCallsPerEvent = perEvent((run) => ['evalsha', 'eval', 'fcall', 'evalsha_ro', 'eval_ro', 'fcall_ro'].reduce((sum, name) => sum + (run.calls.byCommand[name] ?? 0), 0))
          row.xreadPerEvent = perEvent((run) => run.calls.byCommand.xread ?? 0)
          row.redisCommandsPerEvent = perEvent((run) => run.calls.total)
          // Redis over memory, this loop, inside each repetition.
          row.vsMemoryEach = ratioEach(id, caseId(build, 'memory', loop), 'eventsPerSec')
          row.vsMemory = median(row.vsMemoryEach)
        }
        if (build.id !== 'this') {
          row.vsThisEach = ratioEach(id, caseId(builds[0], store, loop), 'eventsPerSec')
          row.vsThis = median(row.vsThisEach)
        }
        if (mine.some((run) => run.clientsMissed !== undefined)) row.clientsMissed = Math.max(...mine.map((run) => run.clientsMissed))
        out[id] = row
      }
    }
  }
  return out
}

function print (report) {
  const fmt = (n, d = 0) => Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : ''
  console.log(`publishes/s into one Redis from one instance, ${report.options.seconds} s per loop, window ${report.options.window}, ` +
    `${report.reps} repetition(s) (medians), ${report.options.clients} client(s)`)
  console.log('case                      events/s  per repetition            × memory  round trips/event  script calls/event  XREAD/event  Redis commands/event')
  for (const [id, row] of Object.entries(report.cases)) {
    console.log(`${id.padEnd(22)} ${fmt(row.eventsPerSec).padStart(11)}  ${row.eventsPerSecEach.join(', ').padEnd(24)} ${fmt(row.vsMemory, 3).padStart(9)}  ` +
      `${fmt(row.roundTripsPerEvent, 3).padStart(17)}  ${fmt(row.scriptCallsPerEvent, 3).padStart(18)}  ${fmt(row.xreadPerEvent, 4).padStart(11)}  ${fmt(row.redisCommandsPerEvent, 2).padStart(20)}` +
      (row.vsThis === undefined ? '' : `  (${fmt(row.vsThis, 2)}× this build)`) +
      (row.clientsMissed ? `  CLIENTS MISSED ${row.clientsMissed}` : ''))
  }
}

async function main () {
  const options = numberFlags(args, {
    seconds: 3,
    events: 5_000_000,
    window: 200,
    warm: 2000,
    size: 64,
    clients: 0
  })
  const reps = numberFlag(args, 'reps', 3)
  const builds = buildsToCompare(args)
  const deadline = deadlineFor('redis-throughput', numberFlag(args, 'deadline', 300_000))
  const redis = await privateRedis({ core: REDIS_CORE })
  const admin = adminClient(redis.url)
  const cases = builds.flatMap((build) => STORES.flatMap((store) => LOOPS.map((loop) => ({ build, store, loop }))))
  let runs
  try {
    runs = await rotating(cases, reps, async ({ build, store, loop }, rep) => {
      const result = await runCase(redis, admin, build, store, loop, options)
      const calls = result.sent === undefined ? '' : `, ${(result.sent.roundTrips / result.published).toFixed(3)} round trips/event, sent ${JSON.stringify(result.sent.byCommand)}`
      console.error(`rep ${rep + 1} ${caseId(build, store, loop).padEnd(22)} ${Math.round(result.eventsPerSec)} events/s (${result.published} in ${Math.round(result.ms)} ms${calls})`)
      return { id: caseId(build, store, loop), ...result }
    })
  } finally {
    admin.disconnect()
    await redis.stop()
    clearTimeout(deadline)
  }
  const report = { bench: 'redis-throughput', node: process.version, pinned: hasTaskset, builds: builds.map(({ id, root, commit }) => ({ id, root, commit })), reps, options, cases: summarize(builds, runs, reps), runs }
  if (args.json === 'true') console.log(JSON.stringify(report))
  else print(report)
}

if (args.role === 'app') await appRole()
else runMain(main)
