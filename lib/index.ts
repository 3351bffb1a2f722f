// The plugin: checks options, creates the hub, decorates `fastify.sse` and `reply.sse()`,
// and ends every stream in `preClose` so `app.close()` never waits on them.
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { FST_SSE_ALREADY_REGISTERED } from './errors'
import { Hub } from './hub'
import { sessionMemoryOf } from './http2-session-budget'
import { resolveOptions, type SsePluginOptions } from './options'
import { MemoryStore } from './store/memory-store'
import type { LiveStream } from './stream'
import type { SseHub, SseStream, SseStreamOptions } from './types'

declare module 'fastify' {
  interface FastifyInstance {
    sse: SseHub
  }
  interface FastifyReply {
    /** Turns this reply into an event stream. */
    sse (options?: SseStreamOptions): SseStream
  }
}

const plugin: FastifyPluginAsync<SsePluginOptions> = async (fastify, rawOptions) => {
  if (fastify.hasDecorator('sse')) throw new FST_SSE_ALREADY_REGISTERED()
  const options = resolveOptions(rawOptions)
  const hub = new Hub(options, options.store ?? new MemoryStore(), fastify.log, sessionMemoryOf(fastify.server))
  // Decorators first: one that clashes (another plugin's `reply.sse`) throws before the store opens.
  // Only the public methods, bound: `const { publish } = app.sse` works, and internals stay out of reach.
  const api: SseHub = {
    publish: (message) => hub.publish(message),
    stats: () => hub.stats(),
    count: (topic) => hub.count(topic),
    disconnect: (topic) => hub.disconnect(topic)
  }
  fastify.decorate('sse', Object.freeze(api))
  fastify.decorateReply('sse', function (this: FastifyReply, streamOptions?: SseStreamOptions): SseStream {
    const stream = hub.open(this.request, this, streamOptions)
    acceptReturnedStream(this, stream)
    return stream
  })
  fastify.addHook('preClose', async () => hub.endAll())
  fastify.addHook('onClose', async () => hub.close())
  await hub.start()
}

/** Lets a sync handler `return reply.sse()`: Fastify would otherwise try to send the stream. */
function acceptReturnedStream (reply: FastifyReply, stream: LiveStream): void {
  const send = reply.send
  reply.send = function (payload?: unknown) {
    return payload === stream ? this : send.call(this, payload)
  }
}

export const fastifySse = fp(plugin, { name: 'fastify-sse-hub', fastify: '5.x' })
export default fastifySse

export { FST_SSE_ALREADY_REGISTERED, FST_SSE_INVALID_DATA, FST_SSE_INVALID_FIELD, FST_SSE_INVALID_OPTION, FST_SSE_STORE_ERROR, FST_SSE_STREAM_CLOSED, FST_SSE_TOPIC_FINISHED, FST_SSE_UNKNOWN_EVENT } from './errors'
export type { SsePluginOptions } from './options'
// For stores of your own: the ids and the replay decision the built-in stores use.
export { formatEventId, newEpoch, parseEventId } from './protocol/event-id'
export { planBackfill, planReplay } from './store/plan-replay'
export { MAX_STREAM_TOPICS } from './opener'
export type { SseEventSchemas } from './schemas'
export type { SseReplay, SseReplayFrom, SseResetReason, SseStore, SseStoreContext, SseStoreStats, SseStoredEvent, SseTopicHistory } from './store/types'
export type * from './types'

// CommonJS callers get the plugin itself (`require('fastify-sse-hub')`), like every Fastify
// plugin, with the named exports on it.
module.exports = Object.assign(fastifySse, module.exports)
