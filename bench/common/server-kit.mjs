// What every contender server shares: the burst loop behind its trigger, its stats, and the
// line that tells the runner which port it listens on. Each server only says how it opens a
// stream and how it broadcasts one event.
import { createRequire } from 'node:module'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { runQueueWaitNs } from './sched.mjs'

/** The loop yields to the event loop after this many events, like a producer reading a queue. */
export const YIELD_EVERY = 100
const MAX_EVENTS = 100_000
const MAX_SIZE = 65_536
const MAX_USERS = 100_000

/** `require` from the repository root: the built plugin and its peer dependencies. */
export const rootRequire = createRequire(new URL('../../package.json', import.meta.url))

/**
 * The trigger's query: `n` events of `s` bytes, numbered from `from`; with `w`, published `w`
 * at a time (a concurrent publisher) instead of each awaited.
 */
export function parseBurst (query) {
  const n = Number(query.n)
  const size = Number(query.s)
  const from = Number(query.from ?? 0)
  const window = query.w === undefined ? undefined : Number(query.w)
  if (!Number.isInteger(n) || n < 1 || n > MAX_EVENTS) throw new Error(`n must be an integer in [1, ${MAX_EVENTS}]`)
  if (!Number.isInteger(size) || size < 0 || size > MAX_SIZE) throw new Error(`s must be an integer in [0, ${MAX_SIZE}]`)
  if (!Number.isInteger(from) || from < 0) throw new Error('from must be a non-negative integer')
  if (window !== undefined && (!Number.isInteger(window) || window < 1 || window > MAX_EVENTS)) throw new Error(`w must be an integer in [1, ${MAX_EVENTS}]`)
  return window === undefined ? { n, size, from } : { n, size, from, window }
}

/**
 * Publishes `n` events back to back through `publish(seq, size)`, awaiting what it returns
 * (a library whose broadcast is async is awaited, as its users would), or with `window`, that
 * many at a time (publishWindowed()); yields to the event loop every YIELD_EVERY events.
 */
export async function burst ({ n, size, from, window }, publish) {
  const started = process.hrtime.bigint()
  const more = (i) => i < n
  const one = (i) => publish(from + i, size)
  if (window === undefined) await publishAwaited(more, one)
  else await publishWindowed(window, more, one)
  return window === undefined
    ? { n, publishMs: Number(process.hrtime.bigint() - started) / 1e6 }
    : { n, window, publishMs: Number(process.hrtime.bigint() - started) / 1e6 }
}

/** Calls `publish(i)` for i = 0, 1, … while `more(i)`, awaiting each; resolves how many. */
export async function publishAwaited (more, publish) {
  let i = 0
  for (; more(i); i++) {
    if (i !== 0 && i % YIELD_EVERY === 0) await nextTurn()
    const pending = publish(i)
    if (pending !== undefined) await pending
  }
  return i
}

/**
 * A concurrent publisher: calls `publish(i)` for i = 0, 1, … while `more(i)`, not awaiting each
 * but keeping `window` publishes in flight (the next starts as soon as one resolves), then
 * awaits all of them. Yields to the event loop every YIELD_EVERY calls, like the awaited loop.
 * Rejects with the first failure; resolves how many were published.
 */
export async function publishWindowed (window, more, publish) {
  let inFlight = 0
  let failure
  /** The loop, parked until fewer than `limit` publishes are in flight. */
  let parked
  const settled = () => {
    inFlight--
    if (parked !== undefined && inFlight < parked.limit) {
      const { resolve } = parked
      parked = undefined
      resolve()
    }
  }
  const failed = (err) => {
    failure ??= err
    settled()
  }
  const below = (limit) => inFlight < limit ? undefined : new Promise((resolve) => { parked = { limit, resolve } })
  let i = 0
  for (; more(i); i++) {
    if (i !== 0 && i % YIELD_EVERY === 0) await nextTurn()
    const full = below(window)
    if (full !== undefined) await full
    if (failure !== undefined) break
    inFlight++
    Promise.resolve(publish(i)).then(settled, failed)
  }
  await below(1)
  if (failure !== undefined) throw failure
  return i
}

/** The per-user trigger's query: one event of `s` bytes to each of users 0 … `n` − 1, numbered `seq`. */
export function parseUsersRound (query) {
  const n = Number(query.n)
  const size = Number(query.s)
  const seq = Number(query.seq)
  if (!Number.isInteger(n) || n < 1 || n > MAX_USERS) throw new Error(`n must be an integer in [1, ${MAX_USERS}]`)
  if (!Number.isInteger(size) || size < 0 || size > MAX_SIZE) throw new Error(`s must be an integer in [0, ${MAX_SIZE}]`)
  if (!Number.isInteger(seq) || seq < 0) throw new Error('seq must be a non-negative integer')
  return { n, size, seq }
}

/**
 * A job that notifies each user in one loop, as an application would: `publish(user, seq, size)`
 * for every user, not awaited, so every event lands in one batch written at the end of the turn.
 * `blockedMs` runs from before the loop to a `setImmediate` queued after it: the loop, the
 * fan-out it triggers, and nothing else the event loop could have done meanwhile.
 */
export async function publishToUsers ({ n, size, seq }, publish) {
  const waitBefore = runQueueWaitNs()
  const cpuBefore = process.cpuUsage()
  const started = process.hrtime.bigint()
  const pending = new Array(n)
  for (let user = 0; user < n; user++) pending[user] = publish(user, seq, size)
  const looped = process.hrtime.bigint()
  await new Promise((resolve) => setImmediate(resolve))
  const unblocked = process.hrtime.bigint()
  const cpu = process.cpuUsage(cpuBefore)
  const waitAfter = runQueueWaitNs()
  await Promise.all(pending)
  return {
    n,
    loopMs: Number(looped - started) / 1e6,
    blockedMs: Number(unblocked - started) / 1e6,
    // The CPU this process spent meanwhile (user + system): what the blocking costs on a machine
    // where other processes also want the core.
    cpuMs: (cpu.user + cpu.system) / 1000,
    // Time this process was runnable but kept off its core while blocked: a disturbed round.
    waitMs: (waitAfter - waitBefore) / 1e6
  }
}

/** CPU and memory of this process; `collect` runs a full GC first (servers start with --expose-gc). */
export function serverStats (connections, collect) {
  if (collect && typeof globalThis.gc === 'function') {
    globalThis.gc()
    globalThis.gc()
  }
  const cpu = process.cpuUsage()
  const mem = process.memoryUsage()
  return {
    connections,
    cpuUser: cpu.user,
    cpuSystem: cpu.system,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    // The peak RSS of this process so far (a fresh process per run: the run's peak).
    maxRss: process.resourceUsage().maxRSS * 1024,
    runQueueWaitNs: runQueueWaitNs()
  }
}

/** The two control routes of a Fastify contender. */
export function addControlRoutes (app, { connections, publish }) {
  app.get('/publish', async (request) => burst(parseBurst(request.query), publish))
  app.get('/stats', async (request) => serverStats(connections(), request.query.gc === '1'))
}

export async function listenFastify (app) {
  await app.listen({ port: 0, host: '127.0.0.1' })
  announce(app.server.address().port)
}

/** The runner reads this line to learn the port. */
export function announce (port) {
  process.stdout.write(JSON.stringify({ ready: true, port, pid: process.pid }) + '\n')
}

// A clean exit on SIGTERM, so `--cpu-prof` gets to write its profile.
process.on('SIGTERM', () => process.exit(0))
process.on('unhandledRejection', (err) => {
  process.stderr.write(`unhandled rejection: ${err?.stack ?? err}\n`)
  process.exit(1)
})
