// Builds a listening app with the plugin registered, closed in the test's teardown.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Test } from 'tap'
import fastifySse, { type SsePluginOptions } from '../../lib/index'

export interface TestApp {
  app: FastifyInstance
  port: number
  url: string
}

export async function listen (t: Test, options: SsePluginOptions = {}, routes?: (app: FastifyInstance) => void, server: FastifyServerOptions & { http2?: boolean } = {}): Promise<TestApp> {
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
