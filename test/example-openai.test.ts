// The example's OpenAI-compatible endpoint (POST /v1/chat/completions), consumed with the
// official `openai` client: a private stream fed by sendAll(), every chunk in order, then [DONE].
import { test, type Test } from 'tap'
import OpenAI from 'openai'
import type { FastifyInstance } from 'fastify'
import { exampleModule, type ExampleAnswers, type ExampleApp } from './helpers/example'
import { eventually } from './helpers/redis'

const QUESTION = 'Can an OpenAI client read this stream?'
const MODEL = 'stand-in'

async function startExample (t: Test, tokenDelayMs: number): Promise<{ app: FastifyInstance, client: OpenAI, url: string }> {
  const { buildApp } = await exampleModule<ExampleApp>('app.mjs')
  // forceCloseConnections: undici may open a spare connection that never sends a request, which
  // Node does not count as idle; the app would wait for the client to drop it (4 s).
  const app = await buildApp({ tokenDelayMs, fastify: { forceCloseConnections: true } })
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 }) }
}

test('stream: true: every chunk in order, the iteration ends at [DONE]', async (t) => {
  const { answerTokens } = await exampleModule<ExampleAnswers>('answers.mjs')
  const { app, client } = await startExample(t, 0)
  const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: QUESTION }], stream: true })
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = []
  for await (const chunk of stream) chunks.push(chunk)

  const expected = answerTokens(QUESTION)
  t.equal(chunks.length, expected.length + 2, 'a role chunk, one chunk per token, a final chunk')
  t.same(chunks[0].choices, [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }])
  t.same(chunks.slice(1, -1).map((chunk) => chunk.choices[0].delta.content), expected, 'every token, in order, once')
  t.ok(chunks.slice(1, -1).every((chunk) => chunk.choices[0].finish_reason === null))
  t.same(chunks.at(-1)?.choices, [{ index: 0, delta: {}, finish_reason: 'stop' }])
  t.equal(new Set(chunks.map((chunk) => chunk.id)).size, 1, 'one completion id')
  t.match(chunks[0], { id: /^chatcmpl-/, object: 'chat.completion.chunk', model: MODEL, created: Number })
  t.equal(app.sse.stats().connections, 0, 'the stream was closed after [DONE]')
  t.equal(app.sse.stats().published, 0, 'a private stream: nothing published')
})

test('on the wire: unnamed events, no ids, data: [DONE] last, then the end', async (t) => {
  const { url } = await startExample(t, 0)
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: [{ type: 'text', text: QUESTION }] }], stream: true })
  })
  t.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  const body = await response.text()
  const lines = body.split('\n').filter((line) => line !== '')
  t.same(lines.filter((line) => !line.startsWith('data: ') && !line.startsWith('retry: ')), [], 'no id: or event: line')
  t.ok(body.endsWith('\n\ndata: [DONE]\n\n'), 'the final message is the verbatim [DONE]')
})

test('stream: false: one JSON completion with the same answer', async (t) => {
  const { answerText, ANSWER_TOKENS } = await exampleModule<ExampleAnswers>('answers.mjs')
  const { client } = await startExample(t, 0)
  const completion = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: QUESTION }] })
  t.match(completion, { object: 'chat.completion', model: MODEL, usage: { completion_tokens: ANSWER_TOKENS } })
  t.same(completion.choices, [{ index: 0, message: { role: 'assistant', content: answerText(QUESTION) }, finish_reason: 'stop' }])
})

test('a bad request is a 400 in OpenAI\'s error shape', async (t) => {
  const { client } = await startExample(t, 0)
  const error = await client.chat.completions.create({ model: MODEL, messages: [], stream: true }).catch((err: unknown) => err)
  t.ok(error instanceof OpenAI.BadRequestError)
  t.match(error, { status: 400, error: { type: 'invalid_request_error', message: /messages must NOT have fewer than 1 items/ } })
})

test('a client that stops reading ends the stream, and the generator with it', async (t) => {
  const { app, client } = await startExample(t, 5)
  const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: QUESTION }], stream: true })
  const received: string[] = []
  for await (const chunk of stream) {
    received.push(chunk.choices[0].delta.content ?? '')
    if (received.length === 10) break // the client aborts its request
  }
  t.equal(received.length, 10)
  await eventually(async () => { if (app.sse.stats().connections !== 0) throw new Error('still open') }, 'the stream to end')
  t.pass('the server ended the stream; sendAll stopped the source')
})
