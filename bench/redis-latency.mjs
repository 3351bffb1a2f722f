// Publish -> receive latency through the Redis store against the in-memory store: two app
// instances (processes), 1,000 raw SSE clients spread over them (one client process), loopback.
// Imports the built package from dist/: run `npm run build` first. Needs Redis on 127.0.0.1:6379
// (uses a random key prefix and deletes its keys; never flushes).
//
//   node bench/redis-latency.mjs                    closed loop + steady rate, both stores
//   node bench/redis-latency.mjs --clients=1000 --events=300 --warm=50 --rate=100 --json
//   --debug=1 prints progress from every process; --deadline=ms ends a stuck run (180000)
//
// Latency is measured from the moment the server calls `app.sse.publish()` to the moment the
// client process reads the frame from its socket, with process.hrtime (CLOCK_MONOTONIC, one
// clock for every process on the machine). With the memory store each instance publishes to
// its own clients (it cannot reach the other's); with Redis one instance publishes and the
// event reaches the clients of both.
//
// Modes: "closed loop" publishes the next event once every client has the previous one
// (latency without queueing); "steady" publishes at --rate events/s regardless.
import { fork } from 'node:child_process'
import { createRequire } from 'node:module'
import { connect } from 'node:net'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { adminClient, deleteKeys } from './common/redis-server.mjs'

const SELF = fileURLToPath(import.meta.url)
const rootRequire = createRequire(new URL('../package.json', import.meta.url))
const args = Object.fromEntries(process.argv.slice(2).filter((a) => a.startsWith('--')).map((a) => {
  const [key, value] = a.slice(2).split('=')
  return [key, value ?? 'true']
}))
const role = args.role ?? 'main'
const now = () => process.hrtime.bigint()

/** One app instance: memory or Redis store, publishes when the coordinator says so. */
async function server () {
  const Fastify = rootRequire('fastify')
  const fastifySse = rootRequire('./dist/index.js')
  const { redisStore } = rootRequire('./dist/redis.js')
  const app = Fastify()
  const store = args.store === 'redis' ? redisStore({ url: args.url, keyPrefix: args.prefix }) : undefined
  await app.register(fastifySse, { heartbeat: 0, history: 1000, store })
  app.get('/events', (_request, reply) => reply.sse())
  await app.listen({ port: 0, host: '127.0.0.1' })
  process.on('message', (message) => {
    if (message.type === 'publish') {
      // The timestamp travels in the event: the client subtracts it from its receive time.
      app.sse.publish({ event: 'tick', data: { k: message.k, t: String(now()) } }).catch((err) => {
        process.send({ type: 'error', error: String(err) })
      })
    } else if (message.type === 'close') {
      app.close().then(() => process.exit(0))
    }
  })
  process.send({ type: 'listening', port: app.server.address().port })
  if (args.debug) process.stderr.write(`# server ${args.store} listening on ${app.server.address().port}\n`)
}

/** Every client on its own socket; reports when all of them have event k, and the latencies. */
async function clients () {
  const ports = args.ports.split(',').map(Number)
  const perPort = Number(args.clients) / ports.length
  const warm = Number(args.warm)
  const total = ports.length * perPort
  const received = new Map()
  const latencies = []
  let primed = 0
  // A socket callback only timestamps its chunk: parsing there would delay the timestamps of
  // the sockets read after it in the same turn. Chunks are parsed once the turn's reads are done.
  const arrivals = []
  const drain = () => {
    for (let i = 0; i < arrivals.length; i += 3) parse(arrivals[i], arrivals[i + 1], arrivals[i + 2])
    arrivals.length = 0
  }
  const parse = (at, state, chunk) => {
    state.buffer += chunk
    const end = state.buffer.lastIndexOf('\n\n')
    if (end === -1) return
    const complete = state.buffer.slice(0, end)
    state.buffer = state.buffer.slice(end + 2)
    if (!state.primed && complete.includes('id: ')) {
      state.primed = true
      primed++
      state.onPrimed()
    }
    for (const match of complete.matchAll(/"k":(\d+),"t":"(\d+)"/g)) {
      const k = Number(match[1])
      if (k >= warm) latencies.push(Number(at - BigInt(match[2])) / 1e6)
      const count = (received.get(k) ?? 0) + 1
      received.set(k, count)
      if (count === total) {
        received.delete(k)
        process.send({ type: 'done', k })
      }
    }
  }
  const open = (port) => new Promise((resolve) => {
    const state = { buffer: '', primed: false, onPrimed: resolve }
    const socket = connect(port, '127.0.0.1')
    socket.setEncoding('utf8')
    socket.setNoDelay(true)
    socket.on('connect', () => socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n'))
    socket.on('data', (chunk) => {
      if (arrivals.length === 0) setImmediate(drain)
      arrivals.push(now(), state, chunk)
    })
    socket.on('error', (err) => process.send({ type: 'error', error: String(err) }))
  })
  // 100 connections in flight at a time: a steady accept load, not a SYN flood on the backlog.
  if (args.debug) setInterval(() => process.stderr.write(`# clients: ${primed} primed, ${arrivals.length} pending\n`), 1000).unref()
  for (let opened = 0; opened < total; opened += 100) {
    const batch = []
    for (let i = opened; i < Math.min(total, opened + 100); i++) batch.push(open(ports[Math.floor(i / perPort)]))
    await Promise.all(batch)
  }
  process.send({ type: 'ready', primed })
  process.on('message', (message) => {
    if (message.type === 'report') {
      process.send({ type: 'report', latencies: latencies.splice(0) })
    } else if (message.type === 'close') {
      process.exit(0)
    }
  })
}

function child (role, extra) {
  const argv = [`--role=${role}`, ...Object.entries({ ...extra, debug: args.debug ?? '' }).map(([k, v]) => `--${k}=${v}`)]
  const proc = fork(SELF, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  proc.on('message', (message) => { if (message.type === 'error') fail(new Error(`${role}: ${message.error}`)) })
  return proc
}

function next (proc, type, matches = () => true) {
  return new Promise((resolve) => {
    const listener = (message) => {
      if (message.type === type && matches(message)) {
        proc.off('message', listener)
        resolve(message)
      }
    }
    proc.on('message', listener)
  })
}

const children = new Set()
function fail (err) {
  console.error(err)
  for (const proc of children) proc.kill('SIGKILL')
  process.exit(1)
}

async function report (pool) {
  const reported = next(pool, 'report')
  pool.send({ type: 'report' })
  return (await reported).latencies
}

function progress (text) {
  process.stderr.write(`# ${text}\n`)
}

function percentile (sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

async function measure (store, options) {
  const prefix = `sse-bench-${randomBytes(4).toString('hex')}`
  const servers = [0, 1].map(() => child('server', { store, url: options.url, prefix }))
  for (const proc of servers) children.add(proc)
  // Listeners first: a message that arrives before its listener is lost.
  const ports = (await Promise.all(servers.map((proc) => next(proc, 'listening')))).map((m) => m.port)
  const pool = child('clients', { ports: ports.join(','), clients: options.clients, warm: options.warm })
  children.add(pool)
  const ready = next(pool, 'ready')
  await ready
  progress(`${store}: ${options.clients} clients connected`)

  const publish = (k) => {
    // Memory: each instance reaches only its own clients, so both publish event k.
    // Redis: one instance publishes (alternating) and the event reaches both.
    if (store === 'memory') for (const proc of servers) proc.send({ type: 'publish', k })
    else servers[k % 2].send({ type: 'publish', k })
  }
  const results = {}
  // Closed loop: event k+1 leaves once every client has event k.
  const loopEvents = options.warm + options.events
  for (let k = 0; k < loopEvents; k++) {
    const done = next(pool, 'done', (m) => m.k === k)
    publish(k)
    await done
  }
  progress(`${store}: closed loop done`)
  results.closedLoop = await report(pool)
  // Steady rate: events leave every 1000/rate ms, whatever the clients are doing.
  const first = loopEvents
  const last = first + options.events - 1
  const allDone = next(pool, 'done', (m) => m.k === last)
  const interval = 1000 / options.rate
  const started = performance.now()
  for (let k = first; k <= last; k++) {
    const due = started + (k - first) * interval
    const wait = due - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    publish(k)
  }
  await allDone
  progress(`${store}: steady rate done`)
  results.steady = await report(pool)

  const exited = [pool, ...servers].map((proc) => new Promise((resolve) => proc.on('exit', resolve)))
  pool.send({ type: 'close' })
  for (const proc of servers) proc.send({ type: 'close' })
  await Promise.all(exited)
  for (const proc of [pool, ...servers]) children.delete(proc)
  if (store === 'redis') {
    const admin = adminClient(options.url)
    await deleteKeys(admin, prefix)
    admin.disconnect()
  }
  const summary = {}
  for (const [mode, values] of Object.entries(results)) {
    const sorted = Float64Array.from(values).sort()
    summary[mode] = { samples: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] }
  }
  return summary
}

async function main () {
  const options = {
    clients: Number(args.clients ?? 1000),
    events: Number(args.events ?? 300),
    warm: Number(args.warm ?? 50),
    rate: Number(args.rate ?? 100),
    url: args.url ?? 'redis://127.0.0.1:6379'
  }
  // Bounded: whatever happens, the run ends.
  setTimeout(() => fail(new Error('benchmark did not finish within 180 s')), Number(args.deadline ?? 180_000)).unref()
  const report = { node: process.version, clients: options.clients, instances: 2, ...options, stores: {} }
  for (const store of ['memory', 'redis']) report.stores[store] = await measure(store, options)
  if (args.json === 'true') {
    console.log(JSON.stringify(report))
    return
  }
  const ms = (value) => value.toFixed(2).padStart(8)
  console.log(`publish -> receive latency, ${options.clients} clients over 2 instances, ${options.events} events per mode (ms)`)
  console.log('store    mode                      p50       p99       max')
  for (const [store, modes] of Object.entries(report.stores)) {
    for (const [mode, s] of Object.entries(modes)) {
      const label = mode === 'closedLoop' ? 'closed loop' : `steady ${options.rate}/s`
      console.log(`${store.padEnd(8)} ${label.padEnd(20)} ${ms(s.p50)}  ${ms(s.p99)}  ${ms(s.max)}`)
    }
  }
}

// Children end with their coordinator, whatever happens to it.
if (role !== 'main') process.on('disconnect', () => process.exit(0))
if (role === 'server') await server()
else if (role === 'clients') await clients()
else await main()
