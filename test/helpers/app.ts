// Builds a listening app with the plugin registered, closed in the test's teardown.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Test } from 'tap'
import fastifySse, { type SsePluginOptions } from '../../lib/index'

export interface TestApp {
  app: FastifyInstance
  port: number
  url: string
}

export async function listen (t: Test, options: SsePluginOptions = {}, routes?: (app: FastifyInstance) => void, server: FastifyServerOptions & { http2?: boolean, http?: object } = {}): Promise<TestApp> {
  const app = Fastify(server as FastifyServerOptions) as unknown as FastifyInstance
  await app.register(fastifySse, options)
  if (routes === undefined) {
    app.get('/events', (_request, reply) => reply.sse())
  } else {
    routes(app)
  }
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  return { app, port, url: `http://127.0.0.1:${port}` }
}

/**
 * Holds an async handler at `pass()` until the test calls `open()`: `reached` resolves, with what
 * the handler passed, once it got there; `opened` once the test let it through.
 */
export class HandlerGate<T = void> {
  readonly reached: Promise<T>
  readonly opened: Promise<void>
  open: () => void = () => {}
  private arrive: (value: T) => void = () => {}

  constructor () {
    this.reached = new Promise((resolve) => { this.arrive = resolve })
    this.opened = new Promise((resolve) => { this.open = resolve })
  }

  /** In the handler: says it arrived, then waits for the test. */
  async pass (value: T): Promise<void> {
    this.arrive(value)
    await this.opened
  }
}

/** The error that registering the plugin with `options` fails with, or `undefined` when it registers. */
export async function registrationError (options: unknown): Promise<(Error & { code?: string }) | undefined> {
  const app = Fastify()
  try {
    await app.register(fastifySse, options as object)
    await app.ready()
    return undefined
  } catch (err) {
    return err as Error
  } finally {
    await app.close()
  }
}
