// Every error the plugin throws, declared once with @fastify/error.
import createError from '@fastify/error'

export const FST_SSE_UNKNOWN_EVENT = createError<[string, string]>(
  'FST_SSE_UNKNOWN_EVENT',
  'fastify-sse-hub: unknown event name "%s"; declare it in the `events` option (known: %s)'
)

export const FST_SSE_INVALID_DATA = createError<[string, string]>(
  'FST_SSE_INVALID_DATA',
  'fastify-sse-hub: invalid data for event "%s": %s'
)

export const FST_SSE_INVALID_FIELD = createError<[string]>(
  'FST_SSE_INVALID_FIELD',
  'fastify-sse-hub: %s'
)

export const FST_SSE_INVALID_OPTION = createError<[string, string]>(
  'FST_SSE_INVALID_OPTION',
  'fastify-sse-hub: option "%s" %s'
)

export const FST_SSE_STREAM_CLOSED = createError<[string]>(
  'FST_SSE_STREAM_CLOSED',
  'fastify-sse-hub: cannot %s: the stream has ended; stop writing once `stream.closed` resolves or `stream.signal` aborts'
)

export const FST_SSE_STORE_ERROR = createError<[string, { cause: unknown }?]>(
  'FST_SSE_STORE_ERROR',
  'fastify-sse-hub: the store could not %s; nothing was sent. See `cause`'
)

export const FST_SSE_ALREADY_REGISTERED = createError(
  'FST_SSE_ALREADY_REGISTERED',
  'fastify-sse-hub: the plugin is already registered on this app; register it once, at the root'
)

export const FST_SSE_TOPIC_FINISHED = createError<[string]>(
  'FST_SSE_TOPIC_FINISHED',
  'fastify-sse-hub: topic "%s" is finished: its final event (`last: true`) was published; publish to a new topic instead'
)
