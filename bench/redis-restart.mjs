// Redis restarts EMPTY under load (issue 13): what the clients see. A private redis-server on a
// spare port; two app instances (processes) with `redisStore({ url, timeout: 1000 })` and
// `retry: 1000`; --clients (1,000) undici EventSource clients on the default topic, spread
// over both instances (one client process); a steady publisher, --rate (100) events/s, each
// event's data `{ k }` its sequence number, published round-robin from both instances. After
// --warm ms the Redis server is killed (SIGKILL, nothing saved) and, --down ms later, started
// again EMPTY on the same port; publishing goes on (a publish that rejects meanwhile counts as
// rejected, not published); --settle ms after the restart publishing stops, and after --drain ms
// more the clients are counted.
//
// Reported: reconnects (`open` events after a client's first; `error` events too), `sse-reset`
// events (count, reasons), clients whose EventSource gave up (readyState CLOSED), and, for the
// events whose publish RESOLVED after the restart, per client how many were lost (never
// received) and repeated (received more than once); the same for those that resolved before
// the kill, and during the outage. Today's build ends every stream when Redis loses its history
// (expect about one reconnect per client); the target is 0 reconnects, 0 lost, 0 repeated.
//
// Redis and the two instances are pinned to core 0, the client process to core 1 (the
// coordinator, which only paces the publisher, is not pinned). Imports the built plugin from
// dist/: run `npm run build` first (`npm run bench:redis-restart` does).
//
//   node bench/redis-restart.mjs                        1,000 clients, 100 events/s, ~30 s
//   node bench/redis-restart.mjs --clients=200 --rate=50 --warm=4000 --down=1000 --settle=8000 --drain=2000
//   node bench/redis-restart.mjs --alt=/path/to/checkout --reps=2   both builds, interleaved
//   --json (one JSON line)  --deadline=ms ends a stuck run (120000)
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { buildsToCompare, deadlineFor, rotating, runMain } from './common/compare.mjs'
import { flags, numberFlag, numberFlags } from './common/flags.mjs'
import { hubInstance } from './common/hub-instance.mjs'
import { endChild, exitWithParent, forkPinned, nextMessage } from './common/ipc.mjs'
import { pacedPublisher } from './common/paced.mjs'
import { hasTaskset } from './common/pinned.mjs'
import { privateRedis } from './common/redis-server.mjs'
import { median } from './report.mjs'

const SELF = fileURLToPath(import.meta.url)
const args = flags()
const SERVER_CORE = 0
const CLIENT_CORE = 1
const STORE_TIMEOUT_MS = 1000
/** The categories of events whose publish resolved: each client should get each exactly once. */
const PUBLISHED = ['before', 'outage', 'after']
const RETRY_MS = 1000
/** Wall-clock ms with sub-ms precision, comparable between the processes of the run. */
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** An app instance: publishes event k when told, and says when the publish settled. */
async function appRole () {
  exitWithParent()
  const redis = { url: args.url, keyPrefix: args.prefix, timeout: STORE_TIMEOUT_MS }
  const app = await hubInstance({ root: args.root, redis, options: { retry: RETRY_MS, history: 1000 } })
  process.on('message', (message) => {
    if (message.type === 'publish') publishOne(app, message.k)
    if (message.type === 'close') app.close().finally(() => process.exit(0))
  })
  process.send({ type: 'listening', port: app.server.address().port })
}

function publishOne (app, k) {
  const calledAt = now()
  app.sse.publish({ event: 'tick', data: { k } }).then(
    () => process.send({ type: 'published', k, ok: true, calledAt, at: now() }),
    (err) => process.send({ type: 'published', k, ok: false, calledAt, at: now(), error: err.code ?? err.message })
  )
}

/** The clients: --clients EventSources over --ports; counts every event k each one receives. */
async function clientsRole () {
  exitWithParent()
  // undici says its EventSource is experimental, once per process: not news here.
  process.removeAllListeners('warning')
  const { EventSource } = createRequire(new URL('../package.json', import.meta.url))('undici')
  const ports = args.ports.split(',')
  const count = Number(args.clients)
  const maxK = Number(args.maxK)
  const clients = []
  /** The client process's CPU from all open to the report: near 100 % means it fell behind. */
  const busy = {}
  let opened = 0
  let announced = false
  for (let i = 0; i < count; i++) {
    const client = { received: new Uint8Array(maxK), opens: 0, errors: 0, resets: {}, reopenedAt: [], strays: 0 }
    const source = new EventSource(`http://127.0.0.1:${ports[i % ports.length]}/events`)
    client.source = source
    source.addEventListener('open', () => {
      if (client.opens++ > 0) client.reopenedAt.push(now())
      else if (++opened === count && !announced) {
        announced = true
        busy.from = { cpu: process.cpuUsage(), at: now() }
        process.send({ type: 'ready' })
      }
    })
    source.addEventListener('error', () => { client.errors++ })
    source.addEventListener('tick', (event) => {
      const k = JSON.parse(event.data).k
      if (k < maxK) client.received[k] = Math.min(255, client.received[k] + 1)
      else client.strays++
    })
    source.addEventListener('sse-reset', (event) => {
      const reason = JSON.parse(event.data).reason ?? 'none'
      client.resets[reason] = (client.resets[reason] ?? 0) + 1
    })
    clients.push(client)
  }
  process.on('message', (message) => {
    if (message.type === 'report') {
      const cpu = process.cpuUsage(busy.from.cpu)
      const cpuShare = (cpu.user + cpu.system) / 1000 / (now() - busy.from.at)
      process.send({ type: 'report', ...countClients(clients, message.categories), clientCpuShare: Number(cpuShare.toFixed(3)) })
    }
    if (message.type === 'close') {
      for (const client of clients) client.source.close()
      process.exit(0)
    }
  })
}

/** Per category of events (the k of each): lost and repeated per client; and the reconnects. */
function countClients (clients, categories) {
  const out = { clients: clients.length, categories: {}, reconnects: 0, clientsReconnected: 0, errors: 0, resets: {}, connecting: 0, closed: 0, strays: 0, reopenedAt: [] }
  for (const [name, ks] of Object.entries(categories)) {
    if (!PUBLISHED.includes(name)) {
      // Rejected or never settled: did any of them reach a client anyway (written before the failure)?
      let received = 0
      for (const client of clients) for (const k of ks) if (client.received[k] > 0) received++
      out.categories[name] = { events: ks.length, received }
      continue
    }
    const lost = []
    const repeated = []
    let received = 0
    for (const client of clients) {
      let l = 0
      let r = 0
      for (const k of ks) {
        const times = client.received[k]
        if (times === 0) l++
        else received++
        if (times > 1) r++
      }
      lost.push(l)
      repeated.push(r)
    }
    out.categories[name] = {
      events: ks.length,
      received,
      lost: sum(lost),
      clientsWithLoss: lost.filter((n) => n > 0).length,
      maxLostPerClient: Math.max(0, ...lost),
      repeated: sum(repeated),
      clientsWithRepeats: repeated.filter((n) => n > 0).length,
      maxRepeatedPerClient: Math.max(0, ...repeated)
    }
  }
  for (const client of clients) {
    out.reconnects += client.reopenedAt.length
    if (client.reopenedAt.length > 0) out.clientsReconnected++
    out.errors += client.errors
    out.strays += client.strays
    for (const [reason, n] of Object.entries(client.resets)) out.resets[reason] = (out.resets[reason] ?? 0) + n
    // At the end, 0: CONNECTING, still trying to come back; 2: CLOSED, an EventSource that gave
    // up (a non-200 answer, say) and never will.
    if (client.source.readyState === 0) out.connecting++
    if (client.source.readyState === 2) out.closed++
    out.reopenedAt.push(...client.reopenedAt)
  }
  out.resetsTotal = sum(Object.values(out.resets))
  return out
}

function sum (list) {
  let total = 0
  for (const n of list) total += n
  return total
}

/** One scenario with one build: fresh Redis, instances and clients; resolves its figures. */
async function scenario (build, options) {
  const redis = await privateRedis({ core: SERVER_CORE })
  const prefix = `sse-bench-${randomBytes(4).toString('hex')}`
  const maxK = Math.ceil(options.rate * (options.warm + options.down + options.settle) / 1000) + 100
  const apps = [0, 1].map(() => forkPinned(SERVER_CORE, SELF, ['--role=app', `--root=${build.root}`, `--url=${redis.url}`, `--prefix=${prefix}`]))
  let pool
  try {
    const ports = (await Promise.all(apps.map((app) => nextMessage(app, 'listening')))).map((m) => m.port)
    pool = forkPinned(CLIENT_CORE, SELF, ['--role=clients', `--ports=${ports.join(',')}`, `--clients=${options.clients}`, `--maxK=${maxK}`])
    await nextMessage(pool, 'ready', { timeoutMs: 60_000 })
    progress(`${build.id}: ${options.clients} clients open; publishing ${options.rate}/s`)

    const settled = new Map()
    for (const app of apps) app.on('message', (message) => { if (message.type === 'published') settled.set(message.k, message) })
    const publisher = pacedPublisher(apps, options.rate, maxK)
    await sleep(options.warm)
    const killAt = now()
    await redis.kill()
    progress(`${build.id}: Redis killed`)
    await sleep(options.down)
    await redis.start()
    const restartAt = now()
    progress(`${build.id}: Redis restarted empty`)
    await sleep(options.settle)
    const published = publisher.stop()
    await sleep(options.drain)

    const categories = categorize(published, settled, killAt, restartAt)
    const reported = nextMessage(pool, 'report')
    pool.send({ type: 'report', categories })
    const report = await reported
    return summarizeScenario(build, report, categories, settled, { killAt, restartAt })
  } finally {
    await Promise.all([pool, ...apps].filter(Boolean).map((proc) => endChild(proc)))
    await redis.stop()
  }
}

/** The events by when their publish settled: before the kill, during the outage, after the restart; rejected; never settled. */
function categorize (published, settled, killAt, restartAt) {
  const categories = { before: [], outage: [], after: [], rejected: [], unsettled: [] }
  for (let k = 0; k < published; k++) {
    const result = settled.get(k)
    if (result === undefined) categories.unsettled.push(k)
    else if (!result.ok) categories.rejected.push(k)
    else if (result.at < killAt) categories.before.push(k)
    else if (result.at < restartAt) categories.outage.push(k)
    else categories.after.push(k)
  }
  return categories
}

function summarizeScenario (build, report, categories, settled, { killAt, restartAt }) {
  const rejections = {}
  for (const k of categories.rejected) {
    const error = settled.get(k).error
    rejections[error] = (rejections[error] ?? 0) + 1
  }
  const reopened = report.reopenedAt.map((at) => at - killAt).sort((a, b) => a - b)
  const firstAfter = Math.min(...categories.after.map((k) => settled.get(k).calledAt))
  const { type, reopenedAt, ...counts } = report
  return {
    build: build.id,
    ...counts,
    // When the clients came back, in ms from the kill (Redis was back at `restartMs`).
    restartMs: Math.round(restartAt - killAt),
    reconnectMs: reopened.length === 0 ? null : { first: Math.round(reopened[0]), median: Math.round(median(reopened)), last: Math.round(reopened[reopened.length - 1]) },
    // The first publish that resolved after the restart was called this long after it.
    firstResolvedCallMs: Number.isFinite(firstAfter) ? Math.round(firstAfter - restartAt) : null,
    rejections
  }
}

/** The medians over one build's runs of the figures issue 13 sets targets for (0 each). */
function summarizeBuild (runs) {
  const of = (pick) => median(runs.map(pick))
  return {
    runs: runs.length,
    reconnects: of((run) => run.reconnects),
    resets: of((run) => run.resetsTotal),
    afterLost: of((run) => run.categories.after.lost),
    afterRepeated: of((run) => run.categories.after.repeated),
    beforeLost: of((run) => run.categories.before.lost),
    beforeRepeated: of((run) => run.categories.before.repeated)
  }
}

function progress (text) {
  if (args.json !== 'true') process.stderr.write(`# ${text}\n`)
}

function humanLine (result) {
  const after = result.categories.after
  const before = result.categories.before
  const resets = Object.entries(result.resets).map(([reason, n]) => `${n} ${reason}`).join(', ') || 'none'
  return `${result.build}: ${result.reconnects} reconnects (${result.clientsReconnected} of ${result.clients} clients, ${result.errors} error events; at the end ${result.connecting} still reconnecting, ${result.closed} gave up), ` +
    `sse-reset ${result.resetsTotal} (${resets}); after the restart ${after.events} events resolved: ${after.lost} lost (${after.clientsWithLoss} clients, max ${after.maxLostPerClient}), ` +
    `${after.repeated} repeated (${after.clientsWithRepeats} clients); before the kill ${before.events}: ${before.lost} lost, ${before.repeated} repeated; ` +
    `${result.categories.outage.events} resolved during the outage (${result.categories.outage.lost} lost), ` +
    `${result.categories.rejected.events} rejected (${result.categories.rejected.received} deliveries of them anyway), ${result.categories.unsettled.events} never settled; ` +
    `client process CPU ${Math.round(result.clientCpuShare * 100)} %`
}

async function main () {
  const options = numberFlags(args, {
    clients: 1000,
    rate: 100,
    warm: 5000,
    down: 1000,
    settle: 10_000,
    drain: 3000
  })
  const reps = numberFlag(args, 'reps', 1)
  const builds = buildsToCompare(args)
  const deadline = deadlineFor('redis-restart', numberFlag(args, 'deadline', 120_000) * reps * builds.length)
  const runs = await rotating(builds, reps, async (build) => {
    const result = await scenario(build, options)
    if (args.json !== 'true') console.log(humanLine(result))
    return result
  })
  clearTimeout(deadline)
  const summary = Object.fromEntries(builds.map((build) => [build.id, summarizeBuild(runs.filter((run) => run.build === build.id))]))
  const report = { bench: 'redis-restart', node: process.version, pinned: hasTaskset, storeTimeoutMs: STORE_TIMEOUT_MS, retryMs: RETRY_MS, options, builds: builds.map(({ id, root, commit }) => ({ id, root, commit })), summary, runs }
  if (args.json !== 'true' && runs.length > 1) {
    for (const [id, s] of Object.entries(summary)) {
      console.log(`${id}, median of ${s.runs} runs: ${s.reconnects} reconnects, ${s.resets} sse-reset, after the restart ${s.afterLost} lost and ${s.afterRepeated} repeated deliveries, before the kill ${s.beforeLost} lost`)
    }
  }
  console.log(JSON.stringify(report, null, args.json === 'true' ? 0 : 2))
}

if (args.role === 'app') await appRole()
else if (args.role === 'clients') await clientsRole()
else runMain(main)
