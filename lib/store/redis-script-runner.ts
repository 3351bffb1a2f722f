// Runs the store's Lua scripts by hash. Each is loaded into Redis once: at open, and once more
// whenever Redis forgot it (a restart, SCRIPT FLUSH, a Cluster failover to a replica that never
// had it), however many calls find out together.
import type { Cluster } from 'ioredis'
import type { RedisClient } from './ioredis'
import type { RedisScript } from './redis-scripts'

interface Load {
  /** The number of the last call sent before this load: calls up to it ran before it. */
  readonly after: number
  readonly done: Promise<unknown>
}

export class ScriptRunner {
  /** Numbers each call in the order it is sent. */
  private sent = 0
  /** The latest load of each script, by hash. */
  private readonly loads = new Map<string, Load>()

  /** Loads every script: what the first calls would otherwise find missing. */
  async loadAll (client: RedisClient, scripts: readonly RedisScript[]): Promise<void> {
    await Promise.all(scripts.map((script) => this.load(client, script).done))
  }

  /**
   * EVALSHA; on NOSCRIPT, waits for the script to be loaded and runs it again, once. Keys and
   * arguments travel as one array: spread into the call, thousands of them overflow the stack.
   */
  async run (client: RedisClient, script: RedisScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    const keysAndArgs = [...keys, ...args.map(String)]
    const call = ++this.sent
    try {
      return await client.evalsha(script.sha, keys.length, keysAndArgs)
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err
    }
    // A load sent after this call cannot be why it failed: Redis forgot the script again.
    const latest = this.loads.get(script.sha)
    await (latest !== undefined && latest.after >= call ? latest : this.load(client, script)).done
    return client.evalsha(script.sha, keys.length, keysAndArgs)
  }

  private load (client: RedisClient, script: RedisScript): Load {
    const load = { after: this.sent, done: scriptLoad(client, script.source) }
    this.loads.set(script.sha, load)
    return load
  }
}

/**
 * SCRIPT LOAD names no key, so a Cluster would send it to any one node: it goes to every master
 * instead, the one serving the store's slot among them (after a failover, NOSCRIPT brings the
 * calls back here, to the masters of then).
 */
function scriptLoad (client: RedisClient, source: string): Promise<unknown> {
  if (!client.isCluster) return client.script('LOAD', source)
  return Promise.all((client as Cluster).nodes('master').map((node) => node.script('LOAD', source)))
}
