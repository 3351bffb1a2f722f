// The event map: every event the example publishes or sends, and the schema of its data.
// The plugin refuses any other name, and data that does not match (FST_SSE_INVALID_DATA).
// In TypeScript, `new SseClient<typeof events>(url)` types the page's listeners from it.
import { Type } from '@sinclair/typebox'

const Notification = Type.Object({
  title: Type.String({ minLength: 1, maxLength: 100 }),
  message: Type.String({ maxLength: 500 })
})

/** One chunk of an OpenAI chat completion stream (`POST /v1/chat/completions`, `stream: true`). */
export const ChatCompletionChunk = Type.Object({
  id: Type.String(),
  object: Type.Literal('chat.completion.chunk'),
  created: Type.Integer(),
  model: Type.String(),
  choices: Type.Array(Type.Object({
    index: Type.Integer({ minimum: 0 }),
    delta: Type.Object({ role: Type.Optional(Type.Literal('assistant')), content: Type.Optional(Type.String()) }),
    finish_reason: Type.Union([Type.Literal('stop'), Type.Literal('length'), Type.Null()])
  }))
})

export const events = {
  // `message` is what the wire calls an unnamed event (no `event:` line): what `onmessage`
  // receives, and the only kind OpenAI clients read. One app, one event map, so it is the union
  // of what both send: the guide's `{ text }` on the page's stream, and OpenAI's chunks then the
  // verbatim `data: [DONE]` on the private streams of /v1/chat/completions. The routes decide
  // which goes where, so the page's `({ text }) => ...` never sees a chunk.
  message: Type.Union([Type.Object({ text: Type.String() }), ChatCompletionChunk, Type.Literal('[DONE]')]),
  // Advanced server: named events.
  'user-online': Type.Object({ clientId: Type.String() }),
  'user-count': Type.Object({ count: Type.Integer({ minimum: 0 }) }),
  notification: Notification,
  // Per-user notifications, on the topic `user:<id>`. The page's one stream carries both topics
  // and topics are not on the wire: the event name tells the page where a notification goes.
  'user-notification': Notification,
  // Live analytics: published to the 'analytics' topic every second by one timer.
  stats: Type.Object({
    activeUsers: Type.Integer({ minimum: 0 }),
    connections: Type.Integer({ minimum: 0 }),
    requests: Type.Integer({ minimum: 0 }),
    published: Type.Integer({ minimum: 0 }),
    heapUsedMb: Type.Number(),
    uptime: Type.Number()
  }),
  // Resumable answers, on the topic `answer:<id>`: the question, then the tokens as verbatim
  // text. Never empty: a browser dispatches no event whose data is empty.
  question: Type.Object({ text: Type.String() }),
  token: Type.String({ minLength: 1 })
}

const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })

/** Request bodies, params and query strings of the example's routes. */
export const schemas = {
  broadcast: Type.Object({ message: Type.String({ minLength: 1, maxLength: 500 }) }),
  notification: Notification,
  userParams: Type.Object({ userId: Id }),
  eventsQuery: Type.Object({ user: Type.Optional(Id) }),
  question: Type.Object({ question: Type.String({ minLength: 1, maxLength: 500 }) }),
  answerParams: Type.Object({ id: Id }),
  // What OpenAI clients send; other fields (temperature, stream_options, ...) are accepted and ignored.
  chatCompletion: Type.Object({
    model: Type.String({ minLength: 1 }),
    // `content`: a string, an array of parts, or null; read by the route, not coerced by Ajv
    // (Fastify's coerceTypes would rewrite it while trying each member of a union).
    messages: Type.Array(Type.Object({ role: Type.String(), content: Type.Unknown() }), { minItems: 1 }),
    stream: Type.Optional(Type.Boolean())
  })
}
