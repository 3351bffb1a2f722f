// stream.sendAll(source): pulls messages from an iterable or async iterable into one stream,
// with backpressure — the next message is pulled only while the client keeps up — and stops
// the source when the stream ends first.
import { FST_SSE_INVALID_FIELD } from './errors'
import { checkInteger, describe } from './checks'
import type { LiveStream } from './stream'

const DEFAULT_HIGH_WATER_MARK = 65_536
const OPTION_KEYS = new Set(['highWaterMark', 'close'])
/** How often a stream whose backlog is not its own (publishes) is looked at again while it drains. */
const RECHECK_MS = 25

type AnyIterator = Iterator<unknown> | AsyncIterator<unknown>

function isThenable (value: unknown): value is PromiseLike<IteratorResult<unknown>> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

export async function sendAll (stream: LiveStream, source: unknown, options: unknown): Promise<void> {
  const { highWaterMark, close } = checkOptions(options)
  const iterator = iteratorOf(source)
  let busy = false
  /** Bytes pulled since this loop last let the event loop run. */
  let sinceYield = 0
  try {
    for (;;) {
      if (stream.ended) break
      if (stream.starting || stream.backlogBytes > highWaterMark) {
        if (!stream.starting) {
          // Over highWaterMark: write what this turn pulled, and pull more only if the socket took it.
          stream.flushSource()
          if (stream.backlogBytes <= highWaterMark) continue
        }
        // Our own write still waiting wakes us when taken; a backlog of others' writes
        // (publishes) alone need not emit 'drain', so it is looked at again shortly.
        await stream.progress(stream.sourceWriteInFlight ? undefined : RECHECK_MS)
        continue
      }
      busy = true
      const next = iterator.next()
      // The stream may end while the source is busy (a model still thinking): stop waiting then.
      const step = isThenable(next) ? await stream.unlessEnded(Promise.resolve(next)) : next
      if (step === undefined) break
      busy = false
      if (step.done === true) {
        stream.flushSource()
        if (close) stream.close()
        return
      }
      // Checked like send(); a message that fails stops the source below, writing nothing of it.
      const frame = stream.frameOf(step.value, 'sendAll()')
      stream.writeFromSource(frame)
      // A client that keeps up takes every write at once, and a ready source never waits: let
      // the rest of the app run after each highWaterMark's worth.
      sinceYield += frame.length
      if (sinceYield > highWaterMark) {
        sinceYield = 0
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
  } catch (err) {
    // The source threw (it is done: nothing to stop), or a message failed its check. What it
    // gave before goes out first.
    if (!busy) await stopSource(iterator, true)
    stream.close()
    throw err
  }
  // The stream ended first: stop the source. A source still busy with its own work finishes
  // that first (hand it `stream.signal` to cut it short), so only an idle one is waited for.
  await stopSource(iterator, !busy)
}

function checkOptions (options: unknown): { highWaterMark: number, close: boolean } {
  if (options === undefined) return { highWaterMark: DEFAULT_HIGH_WATER_MARK, close: true }
  if (options === null || typeof options !== 'object') {
    throw new FST_SSE_INVALID_FIELD(`sendAll() takes an options object { highWaterMark?, close? }, got ${describe(options)}`)
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new FST_SSE_INVALID_FIELD(`sendAll() takes no ${JSON.stringify(key)} option (it takes highWaterMark, close)`)
  }
  const { highWaterMark, close } = options as { highWaterMark?: unknown, close?: unknown }
  if (close !== undefined && typeof close !== 'boolean') {
    throw new FST_SSE_INVALID_FIELD(`sendAll() option close must be a boolean, got ${describe(close)}`)
  }
  let hwm = DEFAULT_HIGH_WATER_MARK
  if (highWaterMark !== undefined) {
    try {
      hwm = checkInteger('highWaterMark', highWaterMark, 0, Number.MAX_SAFE_INTEGER)
    } catch {
      throw new FST_SSE_INVALID_FIELD(`sendAll() option highWaterMark must be a non-negative integer (bytes), got ${describe(highWaterMark)}`)
    }
  }
  return { highWaterMark: hwm, close: close ?? true }
}

function iteratorOf (source: unknown): AnyIterator {
  const iterable = source as { [Symbol.asyncIterator]?: unknown, [Symbol.iterator]?: unknown } | null | undefined
  if (typeof iterable?.[Symbol.asyncIterator] === 'function') return (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator]()
  if (typeof iterable?.[Symbol.iterator] === 'function' && typeof source !== 'string') return (iterable as Iterable<unknown>)[Symbol.iterator]()
  throw new FST_SSE_INVALID_FIELD(`sendAll() takes an iterable or async iterable of messages, got ${describe(source)}`)
}

/** Calls the iterator's return() (a generator's `finally` runs, a Readable is destroyed). */
async function stopSource (iterator: AnyIterator, wait: boolean): Promise<void> {
  try {
    const stopped = iterator.return?.()
    if (wait) await stopped
    else if (stopped instanceof Promise) stopped.catch(() => {})
  } catch {
    // A source that fails while stopping has nothing more to give.
  }
}
