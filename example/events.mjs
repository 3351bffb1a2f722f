// The event map: every event the example publishes or sends, and the schema of its data.
// The plugin refuses any other name, and data that does not match (FST_SSE_INVALID_DATA).
// In TypeScript, `new SseClient<typeof events>(url)` types the page's listeners from it.
import { Type } from '@sinclair/typebox'

const Notification = Type.Object({
  title: Type.String({ minLength: 1, maxLength: 100 }),
  message: Type.String({ maxLength: 500 })
})

export const events = {
  // Basic server: a plain message, what `onmessage` receives (no `event:` line on the wire).
  message: Type.Object({ text: Type.String() }),
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
  answerParams: Type.Object({ id: Id })
}
