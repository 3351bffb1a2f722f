// The benchmark runner: for every cell, for every repetition, every contender in turn (the
// order rotates each repetition), a fresh server process pinned to one core and a fresh load
// generator pinned to the other. Medians per cell; ratios taken within each repetition, where
// the contenders ran back to back, then their median. Writes docs/benchmarks.md and .svg.
//
//   node bench/run.mjs            every cell, 3 repetitions, then the micro-benchmarks
//   node bench/run.mjs --quick    one mid cell: the plugin, the two ceilings and better-sse
//   options: --reps=N  --cells=c100,c1k,c5k,c100w,c1kw,c5kw,idle,users2k,users8k,users16k,
//                               answers,answers-json,answers-paced,answers-stall
//            (c100w, c1kw, c5kw: the burst cells from a concurrent publisher, 200 publishes in
//            flight; the plugin only, memory and Redis store: their ratio is issue 13's target)
//            --contenders=hub,node-http,...  --no-docs  --no-micro  --out=FILE (results JSON)
//            --alt=/path/to/checkout  adds `hub-alt`: the plugin built in that checkout, run
//            interleaved with `hub`, to measure a proposed change within one run (and, in the
//            concurrent-publisher cells, `hub-redis-alt`: that build's Redis store)
//            --merge  puts the cells run into the results already in FILE (their earlier runs
//            replaced, every other cell and the micro-benchmarks kept) instead of a new file
//            --help   prints this
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runsIn, writeReport } from './report.mjs'
import { gitCommit } from './common/git-commit.mjs'
import { hasTaskset, pinnedNode } from './common/pinned.mjs'

const BENCH = dirname(fileURLToPath(import.meta.url))
const ROOT = dirname(BENCH)

const CONTENDERS = [
  { id: 'hub', label: 'fastify-sse-hub (memory)', kind: 'ours', script: 'hub.mjs' },
  { id: 'hub-redis', label: 'fastify-sse-hub (Redis)', kind: 'ours', script: 'hub-redis.mjs', optional: true },
  { id: 'node-http', label: 'node:http ceiling', kind: 'ceiling', script: 'node-http.mjs' },
  { id: 'fastify-hijack', label: 'Fastify hijack ceiling', kind: 'ceiling', script: 'fastify-hijack.mjs' },
  { id: 'better-sse', label: 'better-sse', kind: 'library', package: 'better-sse', script: 'better-sse.mjs' },
  { id: 'fastify-sse', label: '@fastify/sse', kind: 'library', package: '@fastify/sse', script: 'fastify-sse.mjs' },
  { id: 'fastify-sse-v2', label: 'fastify-sse-v2', kind: 'library', package: 'fastify-sse-v2', script: 'fastify-sse-v2.mjs' }
]

/** Publishes in flight in the concurrent-publisher cells, and the builds and stores they compare. */
const WINDOW = 200
const WINDOW_CONTENDERS = ['hub', 'hub-redis', 'hub-alt', 'hub-redis-alt']

/** The answers cells' contenders: the plugin, the hand-written node:http server, the libraries that take an async iterable. */
const ANSWER_CONTENDERS = ['hub', 'hub-alt', 'node-http', 'fastify-sse', 'fastify-sse-v2']

const CELLS = [
  { id: 'c100', mode: 'burst', clients: 100, events: 2000, size: 64 },
  { id: 'c1k', mode: 'burst', clients: 1000, events: 200, size: 256 },
  { id: 'c5k', mode: 'burst', clients: 5000, events: 20, size: 1024 },
  // Issue 13: the same bursts from a concurrent publisher (WINDOW publishes in flight, a new one
  // as soon as one resolves), the plugin only: the Redis store against the memory store.
  { id: 'c100w', mode: 'burst', clients: 100, events: 2000, size: 64, window: WINDOW, only: WINDOW_CONTENDERS },
  { id: 'c1kw', mode: 'burst', clients: 1000, events: 200, size: 256, window: WINDOW, only: WINDOW_CONTENDERS },
  { id: 'c5kw', mode: 'burst', clients: 5000, events: 20, size: 1024, window: WINDOW, only: WINDOW_CONTENDERS },
  { id: 'idle', mode: 'idle', clients: 10000 },
  // Issue 14: N users, one event each, streams on ['broadcast', 'user:<i>'] against ['user:<i>'];
  // only the plugin (other libraries have no multi-topic streams).
  { id: 'users2k', mode: 'users', clients: 2000, rounds: 3, size: 64, only: ['hub', 'hub-alt'] },
  { id: 'users8k', mode: 'users', clients: 8000, rounds: 3, size: 64, only: ['hub', 'hub-alt'] },
  { id: 'users16k', mode: 'users', clients: 16000, rounds: 3, size: 64, only: ['hub', 'hub-alt'] },
  // Issue 11: C answers at once, each N tokens of ~20 B from the same async generator, pulled by
  // sendAll() / written by hand with backpressure / handed to the libraries; text tokens, JSON
  // ones (checked by the plugin's schema), paced like a model (500 × 50 tokens/s: well within one
  // core, so latency, not throughput, is the figure); and one client that stops reading.
  { id: 'answers', mode: 'answers', clients: 2000, tokens: 500, only: ANSWER_CONTENDERS },
  { id: 'answers-json', mode: 'answers', clients: 2000, tokens: 500, json: true, only: ANSWER_CONTENDERS },
  { id: 'answers-paced', mode: 'answers', clients: 500, tokens: 100, pace: 20, only: ANSWER_CONTENDERS },
  { id: 'answers-stall', mode: 'stall', clients: 1, tokens: 10_000_000, only: ANSWER_CONTENDERS }
]

/** A users run measures both topic sets, each with a fresh server, the order alternating. */
const USER_TOPICS = ['single', 'multi']

const SERVER_CORE = '0'
const LOAD_CORE = '1'
const LOAD_DEADLINE_MS = 240_000

function parseArgs (argv) {
  const args = { quick: false, reps: undefined, cells: undefined, contenders: undefined, docs: true, micro: true, out: undefined, alt: undefined, merge: false }
  for (const arg of argv) {
    const [key, value] = arg.replace(/^--/, '').split('=')
    if (key === 'help') args.help = true
    else if (key === 'quick') args.quick = true
    else if (key === 'reps') args.reps = Number(value)
    else if (key === 'cells') args.cells = value.split(',')
    else if (key === 'contenders') args.contenders = value.split(',')
    else if (key === 'no-docs') args.docs = false
    else if (key === 'no-micro') args.micro = false
    else if (key === 'out') args.out = value
    else if (key === 'alt') args.alt = value
    else if (key === 'merge') args.merge = true
    else throw new Error(`unknown option ${arg}`)
  }
  return args
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Spawns a process and resolves with its first stdout line parsed as JSON (or rejects). */
function spawnJson (core, nodeArgs, { env, timeoutMs, keep }) {
  const [cmd, args] = pinnedNode(core, nodeArgs)
  const child = spawn(cmd, args, { cwd: BENCH, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`no answer in ${timeoutMs} ms; stderr: ${err.slice(-500)}`))
    }, timeoutMs)
    child.stderr.on('data', (chunk) => { err += chunk })
    child.stdout.on('data', (chunk) => {
      out += chunk
      const nl = out.indexOf('\n')
      if (nl === -1) return
      clearTimeout(timer)
      try {
        resolve({ child, value: JSON.parse(out.slice(0, nl)) })
      } catch (e) {
        reject(new Error(`bad output ${out.slice(0, 200)}`))
      }
      if (!keep) child.stdout.destroy()
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`exited (${code ?? signal}) before answering; stderr: ${err.slice(-800)}`))
    })
  })
}

async function stop (child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

/** One contender in one cell: a fresh server, a fresh load generator, the load's result. */
async function runOne (contender, cell, env, rep) {
  if (cell.mode !== 'users') return runLoad(contender, cell, env, {})
  // Both topic sets back to back, so their ratio is taken within the repetition.
  const result = { ok: true }
  const order = rep % 2 === 0 ? USER_TOPICS : [...USER_TOPICS].reverse()
  for (const [i, topics] of order.entries()) {
    if (i > 0) await sleep(250)
    const one = await runLoad(contender, cell, env, { topics, rounds: cell.rounds })
    if (!one.ok) return { ok: false, error: `${topics}: ${one.error}` }
    result[topics] = one
  }
  return result
}

async function runLoad (contender, cell, env, extra) {
  let server
  try {
    server = await spawnJson(SERVER_CORE, ['--expose-gc', join('servers', contender.script)], { env: { ...env, ...contender.env }, timeoutMs: 30_000, keep: true })
  } catch (err) {
    return { ok: false, error: `server did not start: ${err.message}` }
  }
  try {
    const answers = cell.tokens === undefined ? {} : { tokens: cell.tokens, json: cell.json ?? false, pace: cell.pace ?? 0 }
    const window = cell.window === undefined ? {} : { window: cell.window }
    const config = { port: server.value.port, mode: cell.mode, clients: cell.clients, events: cell.events ?? 0, size: cell.size ?? 0, ...window, ...answers, ...extra }
    const { value } = await spawnJson(LOAD_CORE, ['load.mjs', JSON.stringify(config)], { timeoutMs: LOAD_DEADLINE_MS })
    return value
  } catch (err) {
    return { ok: false, error: `load generator: ${err.message}` }
  } finally {
    await stop(server.child)
  }
}

async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function redisAnswers (port) {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let reply = ''
    socket.setTimeout(500, () => { socket.destroy(); resolve(false) })
    socket.on('error', () => resolve(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk
      if (reply.includes('\r\n')) {
        socket.destroy()
        resolve(reply.startsWith('+PONG'))
      }
    })
  })
}

/** Starts a throwaway Redis for the Redis contender, or says why that contender is skipped. */
async function startRedis () {
  if (!existsSync(join(ROOT, 'dist', 'redis.js'))) {
    return { skip: 'lib/redis.ts is not there yet (no dist/redis.js): the Redis store contender is skipped' }
  }
  if (spawnSync('which', ['redis-server']).status !== 0) {
    return { skip: 'no redis-server on this machine (apt-get install redis-server): the Redis store contender is skipped' }
  }
  const port = await freePort()
  // On the server's core: the load generator's core stays free for the load.
  const [cmd, ...pin] = hasTaskset ? ['taskset', '-c', SERVER_CORE, 'redis-server'] : ['redis-server']
  const child = spawn(cmd, [...pin, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  for (let i = 0; i < 50; i++) {
    if (await redisAnswers(port)) return { child, url: `redis://127.0.0.1:${port}` }
    await sleep(100)
  }
  child.kill('SIGKILL')
  return { skip: 'redis-server did not answer: the Redis store contender is skipped' }
}

/**
 * The cells just run, put into earlier results: each carries where and when it ran (`run`), and
 * replaces its earlier runs; every other cell, the header and the micro-benchmarks stay.
 */
function mergeInto (base, fresh) {
  const ids = new Set(fresh.cells.map((cell) => cell.id))
  const { commit, date, durationSec, machine, reps, contenders, notes } = fresh
  const ran = contenders.filter((c) => fresh.runs.some((entry) => entry.contender === c.id))
  const run = { commit, date, durationSec, machine, reps, contenders: ran, notes }
  return {
    ...base,
    cells: [...base.cells.filter((cell) => !ids.has(cell.id)), ...fresh.cells.map((cell) => ({ ...cell, run }))],
    runs: [...base.runs.filter((entry) => !ids.has(entry.cell)), ...fresh.runs]
  }
}

function runSummary (cell, result) {
  if (!result.ok) return `FAILED: ${result.error}`
  if (cell.mode === 'idle') return `accept ${fmt(result.acceptMs)} ms, ${fmt(result.rssPerConnKiB, 1)} KiB/conn`
  if (cell.mode === 'users') {
    const { single, multi } = result
    return `blocked ${fmt(single.blockedMs, 1)} → ${fmt(multi.blockedMs, 1)} ms (${fmt(multi.blockedMs / single.blockedMs, 2)}×), ` +
      `CPU ${fmt(single.cpuMs, 1)} → ${fmt(multi.cpuMs, 1)} ms (${fmt(multi.cpuMs / single.cpuMs, 2)}×), ` +
      `delivery ${fmt(single.deliveryMs, 1)} → ${fmt(multi.deliveryMs, 1)} ms (${fmt(multi.deliveryMs / single.deliveryMs, 2)}×), single → multi`
  }
  if (cell.mode === 'answers') {
    return `${fmt(result.tokensPerSec)} tokens/s, p50 ${fmt(result.p50Ms, 1)} ms, p99 ${fmt(result.p99Ms, 1)} ms, ` +
      `${fmt(result.serverCpuUsPerToken, 2)} µs CPU/token, RSS peak ${fmt(result.rssPeakMiB)} MiB, load-gen CPU ${fmt(result.loadCpuShare * 100)} %`
  }
  if (cell.mode === 'stall') {
    return `${fmt(result.pulled)} tokens pulled, ${fmt(result.heldBytes)} B held for the client ` +
      `(highWaterMark ${fmt(result.highWaterMark)} + one message ${fmt(result.frameBytes)} = ${fmt(result.bound)} B: ${result.withinBound ? 'within' : 'OVER'})`
  }
  return `${fmt(result.deliveriesPerSec)} deliveries/s, p50 ${fmt(result.p50Ms, 1)} ms, p99 ${fmt(result.p99Ms, 1)} ms, ${fmt(result.serverCpuNsPerDelivery)} ns CPU/delivery`
}

function versionOf (name) {
  try {
    return JSON.parse(readFileSync(join(BENCH, 'node_modules', name, 'package.json'), 'utf8')).version
  } catch {
    return undefined
  }
}

function fmt (n, digits = 0) {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a'
}

async function main () {
  const args = parseArgs(process.argv.slice(2))
  if (args.help) {
    // The comment at the top of this file.
    const text = readFileSync(fileURLToPath(import.meta.url), 'utf8')
    console.log(text.slice(0, text.indexOf('\nimport ')).replace(/^\/\/ ?/gm, ''))
    return
  }
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first')
  const notes = []
  if (!hasTaskset) notes.push('taskset is missing (apt-get install util-linux): processes were not pinned to cores')

  let cells = CELLS
  let contenders = CONTENDERS
  let reps = args.reps ?? 3
  if (args.quick) {
    cells = CELLS.filter((cell) => cell.id === 'c1k')
    contenders = CONTENDERS.filter((c) => ['hub', 'node-http', 'fastify-hijack', 'better-sse'].includes(c.id))
    reps = args.reps ?? 3
  }
  if (args.alt) {
    if (!existsSync(join(args.alt, 'dist', 'index.js'))) throw new Error(`--alt: no dist/index.js in ${args.alt}`)
    const alt = { id: 'hub-alt', label: 'fastify-sse-hub (alt build)', kind: 'ours', script: 'hub.mjs', env: { BENCH_HUB_ROOT: args.alt }, root: args.alt, commit: gitCommit(args.alt) }
    contenders = [contenders[0], alt, ...contenders.slice(1)]
    // The alt build's Redis store, in the cells that list it (the concurrent-publisher ones).
    const redisAt = contenders.findIndex((c) => c.id === 'hub-redis')
    if (redisAt !== -1) {
      const redisAlt = { ...alt, id: 'hub-redis-alt', label: 'fastify-sse-hub (Redis, alt build)', script: 'hub-redis.mjs', optional: true, listedOnly: true }
      contenders = [...contenders.slice(0, redisAt + 1), redisAlt, ...contenders.slice(redisAt + 1)]
    }
  }
  if (args.cells) cells = CELLS.filter((cell) => args.cells.includes(cell.id))
  if (args.contenders) contenders = contenders.filter((c) => args.contenders.includes(c.id))
  const out = args.out ?? join(BENCH, 'results', args.quick ? 'quick.json' : 'latest.json')
  if (args.merge && !existsSync(out)) throw new Error(`--merge: no results in ${out} to merge into`)

  const env = {}
  let redis
  const usesRedis = contenders.filter((c) => c.script === 'hub-redis.mjs')
  if (usesRedis.some((c) => cells.some((cell) => runsIn(cell, c)))) {
    redis = await startRedis()
    if (redis.skip) {
      notes.push(redis.skip)
      contenders = contenders.filter((c) => !usesRedis.includes(c))
    } else {
      env.BENCH_REDIS_URL = redis.url
    }
  }

  const started = new Date()
  // The commit and lib/ state the dist/ being measured was built from (npm run bench builds first).
  const commit = gitCommit(ROOT)
  const loadBefore = loadavg()
  const running = contenders.filter((c) => cells.some((cell) => runsIn(cell, c)))
  console.log(`fastify-sse-hub bench: ${cells.length} cell(s) x ${reps} rep(s) x ${running.length} contender(s); load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`)
  if (loadBefore[0] > 1.5) console.log(`note: the machine is busy (load average ${loadBefore[0].toFixed(2)} on ${cpus().length} cores): expect noisy figures`)
  for (const note of notes) console.log(`note: ${note}`)

  const runs = []
  try {
    for (const cell of cells) {
      const inCell = contenders.filter((c) => runsIn(cell, c))
      for (let rep = 0; rep < reps; rep++) {
        const order = inCell.map((_, i) => inCell[(i + rep) % inCell.length])
        for (const contender of order) {
          const t0 = Date.now()
          const result = await runOne(contender, cell, env, rep)
          runs.push({ cell: cell.id, rep, contender: contender.id, ...result })
          console.log(`  ${cell.id} rep ${rep + 1} ${contender.id.padEnd(15)} ${runSummary(cell, result)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
          await sleep(250)
        }
      }
    }
  } finally {
    if (redis?.child) redis.child.kill('SIGKILL')
  }

  let micro
  if (args.micro && !args.quick && !args.merge) {
    const [cmd, ...pin] = hasTaskset ? ['taskset', '-c', SERVER_CORE, process.execPath] : [process.execPath]
    const result = spawnSync(cmd, [...pin, 'micro.mjs', '--json'], { cwd: BENCH, encoding: 'utf8', timeout: 180_000 })
    if (result.status === 0) micro = JSON.parse(result.stdout.trim().split('\n').pop())
    else notes.push(`micro-benchmarks failed: ${result.stderr.slice(-300)}`)
  }

  let results = {
    commit,
    date: started.toISOString(),
    durationSec: (Date.now() - started.getTime()) / 1000,
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, pinned: hasTaskset, loadBefore, loadAfter: loadavg() },
    versions: Object.fromEntries(['fastify', 'better-sse', '@fastify/sse', 'fastify-sse-v2'].map((name) => [name, versionOf(name)])),
    quick: args.quick,
    reps,
    cells,
    contenders,
    notes,
    runs,
    micro
  }
  const durationSec = results.durationSec
  if (args.merge) results = mergeInto(JSON.parse(readFileSync(out, 'utf8')), results)
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n')
  const report = writeReport(results, { docs: args.docs && !args.quick, root: ROOT })
  console.log('\n' + report.summary)
  console.log(`\nresults: ${out}${report.wrote.length > 0 ? '; ' + report.wrote.join(', ') : ''} (${durationSec.toFixed(0)} s)`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
