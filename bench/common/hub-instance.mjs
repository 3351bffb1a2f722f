// One app instance for the Redis benches: a checkout's built plugin (its dist/: this checkout's,
// or an --alt one's) in Fastify, on a loopback port, with the memory store or the Redis store.
import Fastify from 'fastify'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The checkout this bench is in. */
export const HERE = dirname(dirname(dirname(fileURLToPath(import.meta.url))))

/** Throws unless `root` holds a built plugin with its Redis store. */
export function checkBuilt (root) {
  for (const file of ['index.js', 'redis.js']) {
    if (!existsSync(join(root, 'dist', file))) throw new Error(`no dist/${file} in ${root}: run \`npm run build\` there first`)
  }
  return resolve(root)
}

/**
 * Registers the plugin of `root` with `options` (history, retry, heartbeat ...) and the store:
 * `redis` is `{ url, keyPrefix, timeout }` for the Redis store, undefined for the memory store.
 * GET /events opens a stream on the default topic; `routes(app)`, when given, adds more. Resolves
 * the listening app.
 */
export async function hubInstance ({ root = HERE, redis, options = {}, routes }) {
  const pluginRequire = createRequire(join(root, 'package.json'))
  const fastifySse = pluginRequire('./dist/index.js')
  const store = redis === undefined ? undefined : pluginRequire('./dist/redis.js').redisStore(redis)
  const app = Fastify({ logger: false })
  await app.register(fastifySse, { heartbeat: 0, ...options, store })
  app.get('/events', (request, reply) => reply.sse())
  routes?.(app)
  await app.listen({ port: 0, host: '127.0.0.1', backlog: 65535 })
  return app
}

/**
 * Counts the Redis commands the plugin of `root` sends, as its ioredis sends them: by name, and
 * as round trips (the commands of one pipeline count once). `snapshot()` copies the counts.
 */
export function countRedisCommands (root = HERE) {
  const { Redis } = createRequire(join(root, 'package.json'))('ioredis')
  const counts = { roundTrips: 0, byCommand: {} }
  const send = Redis.prototype.sendCommand
  let lastPipeline
  Redis.prototype.sendCommand = function (command, stream, ...rest) {
    counts.byCommand[command.name] = (counts.byCommand[command.name] ?? 0) + 1
    if (stream === undefined || stream !== lastPipeline) counts.roundTrips++
    lastPipeline = stream
    return send.call(this, command, stream, ...rest)
  }
  return { snapshot: () => ({ roundTrips: counts.roundTrips, byCommand: { ...counts.byCommand } }) }
}

/** What the instance sent between two snapshots of countRedisCommands(). */
export function sentBetween (before, after) {
  const byCommand = {}
  for (const [name, calls] of Object.entries(after.byCommand)) {
    const delta = calls - (before.byCommand[name] ?? 0)
    if (delta > 0) byCommand[name] = delta
  }
  return { roundTrips: after.roundTrips - before.roundTrips, byCommand }
}
