// A private `redis-server` on a spare loopback port, which a fault test may stop, restart
// (with or without its data) and flush, and a TCP proxy that can cut one app off from it.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/** A port nothing listens on right now (the kernel's choice, released at once). */
export async function sparePort (): Promise<number> {
  return (await sparePorts(1))[0]
}

/** `count` different spare ports: each is held until all are chosen. */
export async function sparePorts (count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer().listen(0, '127.0.0.1'))
  await Promise.all(servers.map((server) => once(server, 'listening')))
  const ports = servers.map((server) => (server.address() as { port: number }).port)
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  return ports
}

export class RedisServer {
  readonly port: number
  readonly url: string
  private readonly dir: string
  /** A Cluster node's bus port, or undefined for a standalone server. */
  private readonly busPort: number | undefined
  private child: ChildProcess | undefined

  private constructor (port: number, dir: string, busPort: number | undefined) {
    this.port = port
    this.url = `redis://127.0.0.1:${port}`
    this.dir = dir
    this.busPort = busPort
  }

  /**
   * Starts a server stopped and removed in the test's teardown; `cluster: true` makes it a
   * Redis Cluster node (alone, it serves no slot, but says `cluster_enabled:1`).
   */
  static async start (t: Test, { cluster = false } = {}): Promise<RedisServer> {
    // A bus port of its own: the default, port + 10000, may be taken or past 65535.
    const [port, busPort] = await sparePorts(cluster ? 2 : 1)
    const server = new RedisServer(port, mkdtempSync(join(tmpdir(), 'sse-redis-')), busPort)
    t.teardown(async () => {
      await server.kill()
      rmSync(server.dir, { recursive: true, force: true })
    })
    await server.run()
    return server
  }

  /** Starts the process again on the same port and directory: it loads a dump if one was saved. */
  async run (): Promise<void> {
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', this.dir, '--dbfilename', 'dump.rdb',
      // Small stream nodes, so that approximate trimming of a short log happens in tests.
      '--stream-node-max-entries', '4',
      ...(this.busPort === undefined ? [] : ['--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, 'nodes.conf'), '--cluster-port', String(this.busPort)])
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 10_000)
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.on('exit', () => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited: ${output}`))
      })
    })
  }

  /** Writes the dataset to disk and exits, as a clean shutdown does: `run()` brings it back. */
  async shutdownSaving (): Promise<void> {
    const child = this.child as ChildProcess
    const exited = once(child, 'exit')
    const socket = connect(this.port, '127.0.0.1')
    socket.on('error', () => {})
    socket.write('SHUTDOWN SAVE\r\n')
    await exited
    socket.destroy()
    this.child = undefined
  }

  /** Dies like a crash: whatever it held is gone. */
  async kill (): Promise<void> {
    const child = this.child
    if (child === undefined) return
    this.child = undefined
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
}

/**
 * Forwards connections to a port. `cut()` severs them and refuses new ones; `freeze()` keeps
 * them open but silent, like a network that drops packets; `restore()` undoes either.
 */
export class TcpProxy {
  readonly port: number
  readonly url: string
  private readonly sockets = new Set<Socket>()
  private severed = false
  private frozen = false
  private readonly held: Array<() => void> = []
  /** Connections forwarded so far: a reconnect shows up here. */
  connections = 0
  /** Each chunk waits this long, each way, in order: latency without loss. */
  delayMs = 0

  private constructor (port: number) {
    this.port = port
    this.url = `redis://127.0.0.1:${port}`
  }

  static async start (t: Test, targetPort: number): Promise<TcpProxy> {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const proxy = new TcpProxy((server.address() as { port: number }).port)
    server.on('connection', (client) => proxy.forward(client, targetPort))
    t.teardown(() => {
      proxy.cut()
      server.close()
    })
    return proxy
  }

  cut (): void {
    this.severed = true
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
  }

  freeze (): void {
    this.frozen = true
  }

  restore (): void {
    this.severed = false
    this.frozen = false
    for (const release of this.held.splice(0)) release()
  }

  private forward (client: Socket, targetPort: number): void {
    if (this.severed) {
      client.destroy()
      return
    }
    this.connections++
    const upstream = connect(targetPort, '127.0.0.1')
    for (const [from, to] of [[client, upstream], [upstream, client]]) {
      this.sockets.add(from)
      from.on('error', () => {})
      from.on('close', () => {
        this.sockets.delete(from)
        to.destroy()
      })
      from.on('data', (chunk: Buffer) => {
        if (this.frozen) this.held.push(() => to.write(chunk))
        else if (this.delayMs > 0) setTimeout(() => to.write(chunk), this.delayMs)
        else to.write(chunk)
      })
    }
  }
}
