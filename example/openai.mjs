// An OpenAI-compatible chat completions endpoint (register with `prefix: '/v1'`), answered by
// the example's stand-in model: `stream: true` is a private stream fed by sendAll(), the chunks
// as unnamed events, then `data: [DONE]`; `stream: false` is one JSON completion.
import { randomUUID } from 'node:crypto'
import { answerTokens, generateTokens } from './answers.mjs'
import { schemas } from './events.mjs'

export async function openaiRoutes (app, { tokenDelayMs = 8 } = {}) {
  // Errors in OpenAI's shape, so its clients show the message (a 400 names the bad field).
  app.setErrorHandler((error, request, reply) => {
    const status = error.statusCode ?? 500
    if (status >= 500) request.log.error({ err: error }, 'chat completion failed')
    reply.code(status).send({
      error: { message: status >= 500 ? 'Internal server error' : error.message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: error.code ?? null }
    })
  })

  app.post('/chat/completions', { schema: { body: schemas.chatCompletion } }, async (request, reply) => {
    const { model, messages, stream = false } = request.body
    const question = questionOf(messages)
    const id = `chatcmpl-${randomUUID()}`
    const created = Math.floor(Date.now() / 1000)
    if (!stream) {
      const tokens = answerTokens(question)
      const promptTokens = messages.length + question.split(/\s+/).length // a rough count: no tokenizer here
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: tokens.join('') }, finish_reason: 'stop' }],
        usage: { prompt_tokens: promptTokens, completion_tokens: tokens.length, total_tokens: promptTokens + tokens.length }
      }
    }
    // A private stream: only what this handler sends, no id, no replay (a completion is not resumable).
    const sse = reply.sse({ topics: [] })
    const chunk = (delta, finishReason = null) => ({
      event: 'message',
      data: { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finishReason }] }
    })
    async function * completion () {
      yield chunk({ role: 'assistant', content: '' })
      // The signal stops the model when the client goes away, even between two tokens.
      for await (const token of generateTokens(question, { delayMs: tokenDelayMs, signal: sse.signal })) {
        yield chunk({ content: token })
      }
      yield chunk({}, 'stop')
      yield { event: 'message', text: '[DONE]' } // verbatim: the one `message` that is not JSON
    }
    // Pulls a chunk only while the client keeps up; closes the stream after [DONE].
    return sse.sendAll(completion())
  })
}

/** The text of the last user message: its string, or the text of its parts. */
function questionOf (messages) {
  const { content } = messages.findLast((message) => message.role === 'user') ?? messages[messages.length - 1]
  if (typeof content === 'string') return content
  if (Array.isArray(content)) return content.map((part) => typeof part?.text === 'string' ? part.text : '').join('')
  return ''
}
