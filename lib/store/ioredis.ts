// ioredis is an optional peer dependency, loaded by the `./redis` entry point alone: when it is
// missing, the error says what to install rather than fail inside dist/.
import type * as IORedis from 'ioredis'

function load (): typeof IORedis {
  try {
    return require('ioredis')
  } catch (err) {
    const { code, message } = err as { code?: unknown, message?: unknown }
    if (code !== 'MODULE_NOT_FOUND' || !String(message).includes("'ioredis'")) throw err
    throw Object.assign(new Error('fastify-sse-hub/redis needs ioredis, an optional peer dependency: npm install ioredis', { cause: err }), { code })
  }
}

export const Redis: typeof IORedis.Redis = load().Redis
// eslint-disable-next-line @typescript-eslint/no-redeclare -- the class's value and its instance type, as ioredis exports them
export type Redis = IORedis.Redis
/** What the store runs its commands on: one primary (standalone, Sentinel) or a Cluster. */
export type RedisClient = IORedis.Redis | IORedis.Cluster
