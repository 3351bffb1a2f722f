// Starts the example: `npm start` from the repository root (it builds the package first).
// PORT (default 3000) and HOST (default 127.0.0.1) choose where it listens; ANSWER_TOKEN_MS
// (default 8) the stand-in model's pace, in ms per token.
import { buildApp } from './app.mjs'

const app = await buildApp({
  fastify: { logger: process.env.LOG_LEVEL ? { level: process.env.LOG_LEVEL } : false },
  tokenDelayMs: process.env.ANSWER_TOKEN_MS === undefined ? undefined : Number(process.env.ANSWER_TOKEN_MS)
})
const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })
console.log(`fastify-sse-hub example: open ${address} (?user=<id> picks the page's user)`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await app.close() // ends every open stream first, so this is quick
    process.exit(0)
  })
}
