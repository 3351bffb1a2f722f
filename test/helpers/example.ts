// The example's modules (plain ES modules that Node runs as they are), loaded by tests with the
// types they export: the generator the tests compute expected answers with, and the routes.
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { FastifyInstance, FastifyPluginAsync, FastifyServerOptions } from 'fastify'
import type { SseEventSchemas } from '../../lib/index'

const EXAMPLE = join(__dirname, '..', '..', 'example')

export interface ExampleAnswers {
  ANSWER_TOKENS: number
  answerTokens (question: string): string[]
  answerText (question: string): string
}

export interface ExampleApp {
  buildApp (options?: { fastify?: FastifyServerOptions, tokenDelayMs?: number }): Promise<FastifyInstance>
}

export interface ExampleAnswerRoutes {
  answerRoutes: FastifyPluginAsync<{ tokenDelayMs?: number }>
}

export interface ExampleEvents {
  events: SseEventSchemas
}

// A real `import()`: compiled to CommonJS, TypeScript would turn one written here into require().
// eslint-disable-next-line no-new-func
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>

/** `example/<name>`, imported as the ES module it is. */
export async function exampleModule<T> (name: string): Promise<T> {
  return await importModule(pathToFileURL(join(EXAMPLE, name)).href) as T
}
