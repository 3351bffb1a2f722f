// A private Redis Cluster for a test file: three masters, no replicas, on spare loopback ports,
// created with `redis-cli --cluster create` and stopped in the teardown of the test that
// started it.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { Cluster, type ClusterOptions, Redis } from 'ioredis'
import type { Test } from 'tap'
import { childEnv } from './child-env'
import { adminClient, eventually } from './redis'
import { RedisServer } from './redis-server'

const run = promisify(execFile)

export class RedisCluster {
  /** The masters, in the order `redis-cli` gave them their slots. */
  readonly servers: readonly RedisServer[]
  /** An admin connection to each server, in the same order. */
  readonly admins: readonly Redis[]

  private constructor (servers: RedisServer[], admins: Redis[]) {
    this.servers = servers
    this.admins = admins
  }

  /** Starts the cluster and waits until every node says `cluster_state:ok`. */
  static async start (t: Test): Promise<RedisCluster> {
    const servers: RedisServer[] = []
    // One after the other: a port chosen is only taken once its server listens.
    for (let i = 0; i < 3; i++) servers.push(await RedisServer.start(t, { cluster: true }))
    await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes'], { env: childEnv(), timeout: 30_000 })
    const admins = await Promise.all(servers.map((s) => adminClient(t, s.url)))
    for (const admin of admins) {
      await eventually(async () => {
        const info = await admin.cluster('INFO') as string
        if (!/^cluster_state:ok\b/m.test(info)) throw new Error(info)
      }, 'cluster_state:ok on every node', 20_000)
    }
    return new RedisCluster(servers, admins)
  }

  get startupNodes (): Array<{ host: string, port: number }> {
    return this.servers.map((s) => ({ host: '127.0.0.1', port: s.port }))
  }

  /** A Cluster client of the test's own, disconnected in its teardown. */
  client (t: Test, options: ClusterOptions = {}): Cluster {
    const cluster = new Cluster(this.startupNodes, options)
    cluster.on('error', () => {})
    t.teardown(() => cluster.disconnect())
    return cluster
  }

  /** The admin connection of the master that serves `key`'s hash slot. */
  async ownerOf (key: string): Promise<Redis> {
    const slot = await this.admins[0].cluster('KEYSLOT', key) as number
    const ranges = await this.admins[0].cluster('SLOTS')
    const port = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2][1]
    return this.admins[this.servers.findIndex((s) => s.port === port)]
  }
}
