// Profiles one contender in one cell: its server runs under `node --cpu-prof`, one load run goes
// through, and the profile's self time is summed per function (and per package).
//
//   node bench/profile.mjs hub c1k            top functions of fastify-sse-hub, 1000 x 200 x 256
//   node bench/profile.mjs hub idle --top=40  the accept path, 10,000 connections
//   node bench/profile.mjs hub users8k        8,000 users on ['broadcast', 'user:<i>'], one event each
//   node bench/profile.mjs hub answers        2,000 answers x 500 text tokens through sendAll()
//   node bench/profile.mjs hub-redis c1kw     the Redis store (a private redis-server), 200 publishes in flight
//   node bench/profile.mjs --summarize=FILE.cpuprofile   the same summary of any profile
//   the .cpuprofile is kept in bench/results/profiles/ (open it in Chrome DevTools)
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pinnedNode } from './common/pinned.mjs'
import { privateRedis } from './common/redis-server.mjs'

const BENCH = dirname(fileURLToPath(import.meta.url))
const CELLS = {
  c100: { mode: 'burst', clients: 100, events: 2000, size: 64 },
  c1k: { mode: 'burst', clients: 1000, events: 200, size: 256 },
  c5k: { mode: 'burst', clients: 5000, events: 20, size: 1024 },
  idle: { mode: 'idle', clients: 10000 },
  // The users cells profile their multi-topic side: streams on ['broadcast', 'user:<i>'].
  users2k: { mode: 'users', clients: 2000, rounds: 3, size: 64, topics: 'multi' },
  users8k: { mode: 'users', clients: 8000, rounds: 3, size: 64, topics: 'multi' },
  users16k: { mode: 'users', clients: 16000, rounds: 3, size: 64, topics: 'multi' },
  answers: { mode: 'answers', clients: 2000, tokens: 500 },
  'answers-json': { mode: 'answers', clients: 2000, tokens: 500, json: true },
  'answers-paced': { mode: 'answers', clients: 500, tokens: 100, pace: 20 },
  // Issue 13: the burst cells from a concurrent publisher (200 publishes in flight); c100w with
  // ten times the events, so that the burst outweighs the server's start in the profile.
  c100w: { mode: 'burst', clients: 100, events: 20000, size: 64, window: 200 },
  c1kw: { mode: 'burst', clients: 1000, events: 200, size: 256, window: 200 }
}

const [contender = 'hub', cellId = 'c1k'] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'))
const top = Number(process.argv.find((arg) => arg.startsWith('--top='))?.slice(6) ?? 25)
const only = process.argv.find((arg) => arg.startsWith('--summarize='))?.slice(12)
if (only !== undefined) {
  console.log(summarize(only, top))
  process.exit(0)
}
const cell = CELLS[cellId]
if (cell === undefined) throw new Error(`unknown cell ${cellId}`)
const dir = join(BENCH, 'results', 'profiles', `${contender}-${cellId}-${Date.now()}`)
mkdirSync(dir, { recursive: true })

function pinned (core, args) {
  const [cmd, cmdArgs] = pinnedNode(core, args)
  return spawn(cmd, cmdArgs, { cwd: BENCH, stdio: ['ignore', 'pipe', 'inherit'] })
}

function firstLine (child) {
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))))
    })
    child.on('exit', (code) => reject(new Error(`exited with ${code}`)))
  })
}

// hub-redis: a private redis-server on the server's core, as in bench/run.mjs.
const redis = contender === 'hub-redis' ? await privateRedis({ core: 0 }) : undefined
if (redis !== undefined) process.env.BENCH_REDIS_URL = redis.url
const server = pinned(0, ['--expose-gc', '--cpu-prof', `--cpu-prof-dir=${dir}`, join('servers', `${contender}.mjs`)])
const { port } = await firstLine(server)
const load = pinned(1, ['load.mjs', JSON.stringify({ port, ...cell })])
const result = await firstLine(load)
console.log(JSON.stringify(result))
const exited = new Promise((resolve) => server.once('exit', resolve))
server.kill('SIGTERM')
await exited
await redis?.stop()

const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))
console.log(summarize(join(dir, file), top))

/** Which package a profile frame belongs to. */
function packageOf (functionName, url) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)'
  if (url.startsWith('node:')) return 'node core'
  if (url.includes('/node_modules/')) {
    const parts = url.split('/node_modules/').pop().split('/')
    return parts[0].startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
  }
  return url.includes('/dist/') ? 'fastify-sse-hub (dist)' : 'bench'
}

/** Self time per package and per function of a .cpuprofile, as text. */
function summarize (path, count) {
  const profile = JSON.parse(readFileSync(path, 'utf8'))
  const dt = new Map()
  for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0))
  const self = new Map()
  const byPackage = new Map()
  let total = 0
  for (const node of profile.nodes) {
    const us = dt.get(node.id) ?? 0
    if (us === 0) continue
    total += us
    const { functionName, url, lineNumber } = node.callFrame
    const where = url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '').replace(/.*\/(dist|bench)\//, '$1/')
    const key = `${functionName || '(anonymous)'}  ${where}${url ? ':' + (lineNumber + 1) : ''}`
    self.set(key, (self.get(key) ?? 0) + us)
    const pkg = packageOf(functionName, url)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us)
  }
  const pct = (us) => `${(us / total * 100).toFixed(1).padStart(5)} %`
  const lines = [`profile: ${path} (${(total / 1000).toFixed(0)} ms sampled)`, '', 'self time by package:']
  for (const [pkg, us] of [...byPackage].sort((a, b) => b[1] - a[1])) lines.push(`  ${pct(us)}  ${pkg}`)
  lines.push('', `top ${count} functions by self time:`)
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, count)) lines.push(`  ${pct(us)}  ${key}`)
  return lines.join('\n')
}
