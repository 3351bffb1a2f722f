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
  // Live analytics: sent to one client at a time, every second.
  stats: Type.Object({
    activeUsers: Type.Integer({ minimum: 0 }),
    connections: Type.Integer({ minimum: 0 }),
    requests: Type.Integer({ minimum: 0 }),
    published: Type.Integer({ minimum: 0 }),
    heapUsedMb: Type.Number(),
    uptime: Type.Number()
  })
}

/** Request bodies and params of the routes that publish. */
export const schemas = {
  broadcast: Type.Object({ message: Type.String({ minLength: 1, maxLength: 500 }) }),
  notification: Notification,
  userParams: Type.Object({ userId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) })
}
