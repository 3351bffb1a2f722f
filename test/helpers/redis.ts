// What the Redis suites need: whether they can run (one check, here), a key prefix per test,
// cleanup of exactly those keys, and a way to await a condition without sleeping blindly.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { childEnv } from './child-env'

export const REDIS_URL = 'redis://127.0.0.1:6379'

/** `.ci/run` sets this: there, a missing Redis fails the run instead of skipping. */
const REQUIRED = process.env.SSE_REQUIRE_REDIS === '1'

// A child process keeps the probe synchronous, so the answer can be a test's `skip` option.
const PROBE = `
const socket = require('node:net').connect(6379, '127.0.0.1')
socket.setTimeout(2000, () => process.exit(1))
socket.on('connect', () => socket.write('PING\\r\\n'))
socket.on('data', (data) => process.exit(String(data).startsWith('+PONG') ? 0 : 1))
socket.on('error', () => process.exit(1))
`

function check (missing: string | false): string | false {
  if (missing !== false && REQUIRED) {
    throw new Error(`${missing}, and SSE_REQUIRE_REDIS=1 forbids skipping the Redis suites`)
  }
  return missing
}

/** `false`, or why the suites that use the Redis on 127.0.0.1:6379 are skipped. */
export const redisSkip: string | false = check(
  spawnSync(process.execPath, ['-e', PROBE], { env: childEnv(), timeout: 5000 }).status === 0
    ? false
    : 'no Redis answers on 127.0.0.1:6379 (start one, or run .ci/run)'
)

/** `false`, or why the suites that start their own `redis-server` are skipped. */
export const redisServerSkip: string | false = check(
  spawnSync('redis-server', ['--version'], { env: childEnv() }).status === 0
    ? false
    : 'no `redis-server` binary on PATH to start a private server for the fault tests'
)

/** `false`, or why the suites that start their own Redis Cluster (`redis-server`, `redis-cli`) are skipped. */
export const redisClusterSkip: string | false = redisServerSkip || check(
  spawnSync('redis-cli', ['--version'], { env: childEnv() }).status === 0
    ? false
    : 'no `redis-cli` binary on PATH to create a private Redis Cluster (Debian: redis-tools)'
)

/** A key prefix no other test (or app) uses; its keys are deleted in the test's teardown. */
export function testPrefix (t: Test, url = REDIS_URL): string {
  const prefix = `sse-test-${randomBytes(6).toString('hex')}`
  t.teardown(() => deleteKeys(url, prefix))
  return prefix
}

/** Deletes the keys under `prefix` only: the shared server is never flushed. */
export async function deleteKeys (url: string, prefix: string): Promise<void> {
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  admin.on('error', () => {})
  try {
    await admin.connect()
    let cursor = '0'
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000)
      if (keys.length > 0) await admin.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } catch {
    // A test that stopped its own server has nothing left to delete.
  } finally {
    admin.disconnect()
  }
}

/** An admin connection for a test, closed in its teardown. */
export async function adminClient (t: Test, url = REDIS_URL): Promise<Redis> {
  const admin = new Redis(url, { lazyConnect: true })
  admin.on('error', () => {})
  t.teardown(() => admin.disconnect())
  await admin.connect()
  return admin
}

/**
 * Retries `attempt` until it resolves, for conditions nothing announces (a store reconnecting
 * on its own schedule); rejects with the last error after `timeoutMs`.
 */
export async function eventually<T> (attempt: () => Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await attempt()
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: err })
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}
