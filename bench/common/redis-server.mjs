// A private redis-server for a bench: a spare loopback port, no persistence (so a restart comes
// back EMPTY), pinned to a core where taskset is there. It can be killed and started again on
// the same port, and read for its command counters (INFO commandstats).
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hasTaskset } from './pinned.mjs'

const rootRequire = createRequire(new URL('../../package.json', import.meta.url))
const READY_MS = 10_000

export const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0

/** A loopback port nobody listens on right now. */
export async function sparePort () {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  await once(server, 'close')
  return port
}

/** Starts redis-server; `core` pins it. Resolves `{ url, port, kill(), start(), stop() }`. */
export async function privateRedis ({ core } = {}) {
  if (!hasRedisServer) throw new Error('redis-server is not on PATH (apt-get install redis-server)')
  const port = await sparePort()
  const dir = mkdtempSync(join(tmpdir(), 'sse-bench-redis-'))
  const redis = { url: `redis://127.0.0.1:${port}`, port, child: undefined }
  redis.start = async () => { redis.child = await launch(port, dir, core) }
  // SIGKILL: nothing is saved, and `--save ''` means nothing was saved before either.
  redis.kill = async () => {
    const child = redis.child
    redis.child = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  redis.stop = async () => {
    await redis.kill()
    rmSync(dir, { recursive: true, force: true })
  }
  await redis.start()
  return redis
}

async function launch (port, dir, core) {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
  const [cmd, argv] = core !== undefined && hasTaskset ? ['taskset', ['-c', String(core), 'redis-server', ...args]] : ['redis-server', args]
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`redis-server not ready in ${READY_MS} ms: ${output}`)) }, READY_MS)
    child.stdout.on('data', (chunk) => {
      output += chunk
      if (!output.includes('Ready to accept connections')) return
      clearTimeout(timer)
      child.stdout.resume()
      resolve()
    })
    child.stderr.on('data', (chunk) => { output += chunk })
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`redis-server exited: ${output.slice(-500)}`)) })
  })
  child.removeAllListeners('exit')
  return child
}

/** An ioredis connection for reading counters and deleting keys (not one the store uses). */
export function adminClient (url) {
  const { Redis } = rootRequire('ioredis')
  return new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false })
}

/** Calls per command since the server started (or CONFIG RESETSTAT): `{ evalsha: 12, xread: 3, ... }`. */
export async function commandCalls (admin) {
  const text = await admin.info('commandstats')
  const calls = {}
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]] = Number(match[2])
  return calls
}

/**
 * What ran between two `commandCalls()` snapshots, without the admin connection's own INFO:
 * `{ total, byCommand }`.
 */
export function callsBetween (before, after) {
  const byCommand = {}
  let total = 0
  for (const [name, calls] of Object.entries(after)) {
    const delta = calls - (before[name] ?? 0)
    if (delta === 0 || name === 'info') continue
    byCommand[name] = delta
    total += delta
  }
  return { total, byCommand }
}

/** Deletes every key of the store with `prefix` (`{prefix}:*`; SCAN, never FLUSH: the server may be shared). */
export async function deleteKeys (admin, prefix) {
  let cursor = '0'
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000)
    if (keys.length > 0) await admin.del(...keys)
    cursor = next
  } while (cursor !== '0')
}
