// App instances in separate processes (test/fixtures/redis-instance.js, on the built package),
// as behind a load balancer: each has its own event loop and its own Redis connections.
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import type { Test } from 'tap'
import { childEnv } from './child-env'

const FIXTURE = join(__dirname, '..', 'fixtures', 'redis-instance.js')

export interface Instance {
  readonly port: number
  /** POSTs to the instance's publish route: the id, or the error code it answered with. */
  publish (message: { event: string, data: unknown, topic?: string }): Promise<{ id?: string, code?: string }>
}

export async function forkInstance (t: Test, options: { url: string, keyPrefix: string, history?: number }): Promise<Instance> {
  const child: ChildProcess = fork(FIXTURE, [], {
    execArgv: [],
    env: { ...childEnv(), SSE_REDIS_URL: options.url, SSE_KEY_PREFIX: options.keyPrefix, SSE_HISTORY: String(options.history ?? 1000) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.send('close')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  })
  const [message] = await once(child, 'message') as [{ port?: number, error?: string }]
  if (message.port === undefined) throw new Error(`instance failed to start: ${message.error}`)
  const port = message.port
  return {
    port,
    async publish (body) {
      const response = await fetch(`http://127.0.0.1:${port}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body)
      })
      return await response.json() as { id?: string, code?: string }
    }
  }
}
