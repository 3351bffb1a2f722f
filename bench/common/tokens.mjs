// The answers cells (issue 11): one answer is an async generator of tokens, the same module for
// every contender. Each token carries its number and the time it was pulled, so the load
// generator checks the order and measures send → receipt latency. A ready source unless paced.
import { makeData } from './payload.mjs'

/** The event of a text token: `event: token`, `data: <seq> <ns>` padded to TOKEN_SIZE bytes. */
export const TOKEN_EVENT = 'token'
/** The event of a JSON token: the fan-out cells' `tick`, `{"s":<seq>,"t":"<ns>","p":""}`. */
export const JSON_TOKEN_EVENT = 'tick'
/** Bytes of a token's data (a text token is longer when its number and stamp need more digits). */
export const TOKEN_SIZE = 20
const MAX_TOKENS = 100_000_000
const MAX_PACE_MS = 10_000
const PAD = '.'.repeat(TOKEN_SIZE)

/** `GET /answer?tokens=N[&json=1][&pace=MS][&stall=1]`: what to stream. */
export function parseAnswer (query) {
  const tokens = Number(query.tokens)
  const paceMs = Number(query.pace ?? 0)
  if (!Number.isInteger(tokens) || tokens < 1 || tokens > MAX_TOKENS) throw new Error(`tokens must be an integer in [1, ${MAX_TOKENS}]`)
  if (!Number.isFinite(paceMs) || paceMs < 0 || paceMs > MAX_PACE_MS) throw new Error(`pace must be a number of ms in [0, ${MAX_PACE_MS}]`)
  return { tokens, json: query.json === '1', paceMs, stall: query.stall === '1' }
}

/** Text token `seq`, stamped now: `<seq> <ns>` padded with dots to TOKEN_SIZE bytes. */
export function tokenText (seq) {
  const text = `${seq} ${process.hrtime.bigint()}`
  return text.length >= TOKEN_SIZE ? text : text + PAD.slice(text.length)
}

const sleepUntil = (at) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - performance.now())))

/**
 * The answer: `tokens` tokens, each handed to `toMessage(seq, token)` (the token is the text of
 * tokenText() or, with `json`, the object of makeData()) so every library gets its own message
 * shape out of the same generator. With `paceMs`, token k is due k + 1 paces after the start (no
 * drift); otherwise the source is always ready. `progress.pulled` counts the tokens taken.
 */
export async function * answer ({ tokens, json, paceMs }, toMessage, progress) {
  const started = performance.now()
  for (let seq = 0; seq < tokens; seq++) {
    if (paceMs > 0) await sleepUntil(started + (seq + 1) * paceMs)
    if (progress !== undefined) progress.pulled++
    yield toMessage(seq, json ? makeData(seq, TOKEN_SIZE) : tokenText(seq))
  }
}

/**
 * The stalled answer's record (the stall cell): the server registers its response and progress
 * here, and `GET /answer-stats` reports how far the source got and what the server holds.
 * The bytes held in the process for the client are what the response still buffers (Node's
 * writableLength: its own buffer and its socket's) plus `extra()`, what a library queues in front.
 */
export const stalled = { spec: undefined, progress: undefined, res: undefined, extra: () => 0 }

export function stallProgress (spec, res, extra = () => 0) {
  if (!spec.stall) return undefined
  stalled.spec = spec
  stalled.progress = { pulled: 0 }
  stalled.res = res
  stalled.extra = extra
  return stalled.progress
}

/** Wire bytes of one SSE frame in a chunked response: the frame and its chunk's size line and CRLF. */
export function chunkedBytes (frame) {
  const bytes = Buffer.byteLength(frame)
  return bytes + bytes.toString(16).length + 4
}

/** A token's SSE frame, encoded by hand (the node:http contender's encoder). */
export function handFrame (seq, token) {
  return typeof token === 'string'
    ? `event: ${TOKEN_EVENT}\ndata: ${token}\n\n`
    : `event: ${JSON_TOKEN_EVENT}\ndata: ${JSON.stringify(token)}\n\n`
}

/** Wire bytes of the answer's largest token message (its last, stamped now), chunk framing included. */
export function largestFrameBytes ({ tokens, json }) {
  const seq = tokens - 1
  return chunkedBytes(handFrame(seq, json ? makeData(seq, TOKEN_SIZE) : tokenText(seq)))
}

/**
 * What GET /answer-stats answers: tokens pulled, bytes held, and the bound the contender
 * promises (`highWaterMark`, bytes, with `asserted` when it is the contract under test) and the
 * wire bytes of one token message, for the load generator to check held ≤ highWaterMark + one.
 */
export function answerStats ({ highWaterMark, asserted }) {
  const res = stalled.res
  const mem = process.memoryUsage()
  return {
    started: res !== undefined,
    pulled: stalled.progress?.pulled ?? 0,
    heldBytes: res === undefined ? 0 : res.writableLength + stalled.extra(),
    resBytes: res === undefined ? 0 : res.writableLength,
    socketBytes: res?.socket?.writableLength ?? 0,
    highWaterMark,
    asserted,
    frameBytes: stalled.spec === undefined ? 0 : largestFrameBytes(stalled.spec),
    rss: mem.rss
  }
}
