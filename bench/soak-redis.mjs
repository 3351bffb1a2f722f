// Soak of bounded history in the Redis store: what one sparse topic costs (MEMORY USAGE), and
// Redis `used_memory` while a million distinct topics each get one event, through the plugin
// and the store, with a short historyMaxAge. Starts its own redis-server on a free loopback port
// (never the shared one) and stops it at the end. Imports the built package from dist/: run
// `npm run build` first (`npm run bench:soak-redis` does).
//
//   node bench/soak-redis.mjs                           1,000,000 topics, historyMaxAge 10 s
//   node bench/soak-redis.mjs --topics=200000 --max-age=5000 --in-flight=512 --every=50000 --json
//   --deadline=ms ends a stuck run (600000)
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { sparePort } from './common/redis-server.mjs'

const rootRequire = createRequire(new URL('../package.json', import.meta.url))
const args = Object.fromEntries(process.argv.slice(2).filter((a) => a.startsWith('--')).map((a) => {
  const [key, value] = a.slice(2).split('=')
  return [key, value ?? 'true']
}))
const topics = Number(args.topics ?? 1_000_000)
const maxAge = Number(args['max-age'] ?? 10_000)
const inFlight = Number(args['in-flight'] ?? 256)
const every = Number(args.every ?? 100_000)
const deadline = Number(args.deadline ?? 600_000)
const json = args.json === 'true'
const log = (line) => { if (!json) process.stdout.write(line + '\n') }

async function startRedis () {
  const port = await sparePort()
  const dir = mkdtempSync(join(tmpdir(), 'sse-soak-'))
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      output += chunk
      if (output.includes('Ready to accept connections')) resolve()
    })
    child.on('exit', () => reject(new Error(`redis-server exited: ${output}`)))
  })
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop () {
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function main () {
  const { Redis } = rootRequire('ioredis')
  const Fastify = rootRequire('fastify')
  const fastifySse = rootRequire('./dist/index.js')
  const { redisStore } = rootRequire('./dist/redis.js')
  const redis = await startRedis()
  const admin = new Redis(redis.url)
  const app = Fastify()
  const timer = setTimeout(() => { process.stderr.write(`soak: deadline of ${deadline} ms passed\n`); process.exit(2) }, deadline).unref()
  try {
    await app.register(fastifySse, { heartbeat: 0, history: 1000, historyMaxAge: maxAge, store: redisStore({ url: redis.url, keyPrefix: 'soak' }) })
    await app.ready()
    const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))[1])
    const keys = async () => Number(/keys=(\d+)/.exec(await admin.info('keyspace'))?.[1] ?? 0)

    // One sparse topic: MEMORY USAGE of its key after 1 and 3 small events.
    const sparse = {}
    for (const count of [1, 3]) {
      const topic = `user:sparse-${count}`
      for (let i = 0; i < count; i++) await app.sse.publish({ event: 'user-count', data: { count: i }, topic })
      sparse[count] = await admin.memory('USAGE', `{soak}:history:${topic}`)
      log(`MEMORY USAGE of a topic with ${count} small event(s): ${sparse[count]} bytes (PTTL ${await admin.pttl(`{soak}:history:${topic}`)} ms)`)
    }

    // A million topics, one event each, many publishes in flight.
    const baseline = await usedMemory()
    log(`used_memory before: ${baseline} bytes; ${topics} topics, historyMaxAge ${maxAge} ms, ${inFlight} in flight`)
    const samples = []
    const started = Date.now()
    let next = 0
    let failed = 0
    async function worker () {
      while (next < topics) {
        const n = next++
        await app.sse.publish({ event: 'user-count', data: { count: n }, topic: `user:${n}` }).catch(() => { failed++ })
        if ((n + 1) % every === 0) {
          const sample = { topics: n + 1, seconds: (Date.now() - started) / 1000, usedMemory: await usedMemory(), keys: await keys() }
          samples.push(sample)
          log(`${String(sample.topics).padStart(8)} topics  ${sample.seconds.toFixed(1).padStart(6)} s  used_memory ${(sample.usedMemory / 1048576).toFixed(1).padStart(7)} MiB  keys ${sample.keys}`)
        }
      }
    }
    await Promise.all(Array.from({ length: inFlight }, worker))
    const seconds = (Date.now() - started) / 1000
    log(`published ${topics} events in ${seconds.toFixed(1)} s (${Math.round(topics / seconds)}/s), ${failed} failed`)

    // Then nothing: every topic key expires historyMaxAge after its event.
    await delay(maxAge + 2000)
    const after = { usedMemory: await usedMemory(), keys: await keys() }
    log(`${(maxAge + 2000) / 1000} s later: used_memory ${(after.usedMemory / 1048576).toFixed(1)} MiB, keys ${after.keys}`)
    if (json) process.stdout.write(JSON.stringify({ topics, maxAge, inFlight, sparse, baseline, samples, seconds, failed, after }) + '\n')
  } finally {
    clearTimeout(timer)
    await app.close()
    admin.disconnect()
    await redis.stop()
  }
}

await main()
