// Resumable answers: POST /answers starts a generation that runs on its own, publishing its
// tokens to the topic `answer:<id>`; GET /answers/:id streams the answer so far, then the rest.
// A reload mid-answer shows it whole, once; a dropped connection resumes by Last-Event-ID, on
// any instance sharing the store; a reconnect after the end gets 204 and EventSource stops.
import { randomUUID } from 'node:crypto'
import { generateTokens } from './answers.mjs'
import { schemas } from './events.mjs'

/**
 * Registered inside an app that registered fastify-sse-hub with the example's `events` and a
 * `history` that keeps every token of an answer (`answer:*` topics: 20,000).
 */
export async function answerRoutes (app, { tokenDelayMs = 8 } = {}) {
  // Generations belong to no request: they stop when the app closes.
  const closing = new AbortController()
  app.addHook('preClose', async () => closing.abort())

  app.post('/answers', { schema: { body: schemas.question } }, async (request) => {
    const id = randomUUID()
    const topic = `answer:${id}`
    const { question } = request.body
    // Retained before the client knows the id: whoever opens the answer first sees its question.
    await app.sse.publish({ event: 'question', data: { text: question }, topic })
    generate(topic, question).catch((err) => {
      if (!closing.signal.aborted) app.log.error({ err, topic }, 'answer generation failed')
    })
    return { id }
  })

  app.get('/answers/:id', { schema: { params: schemas.answerParams } }, (request, reply) =>
    reply.sse({ topics: [`answer:${request.params.id}`], backfill: 'all' }))

  async function generate (topic, question) {
    let previous
    for await (const token of generateTokens(question, { delayMs: tokenDelayMs, signal: closing.signal })) {
      // One token behind, so that the last one goes out with `last: true`: it finishes the topic.
      if (previous !== undefined) await app.sse.publish({ event: 'token', text: previous, topic })
      previous = token
    }
    await app.sse.publish({ event: 'token', text: previous, topic, last: true })
  }
}
