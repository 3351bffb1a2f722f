// Ceiling: plain node:http, each event encoded once into a Buffer written to every response.
// No validation, no history, no backlog bound: nothing but the fan-out.
import { createServer } from 'node:http'
import { EVENT_NAME, makeJson } from '../common/payload.mjs'
import { announce, burst, parseBurst, serverStats } from '../common/server-kit.mjs'
import { answer, answerStats, handFrame, parseAnswer, stallProgress, stalled } from '../common/tokens.mjs'

const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive'
}
const responses = new Set()

function publish (seq, size) {
  const frame = Buffer.from(`id: ${seq}\nevent: ${EVENT_NAME}\ndata: ${makeJson(seq, size)}\n\n`)
  for (const res of responses) res.write(frame)
}

function json (res, body) {
  const text = JSON.stringify(body)
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/**
 * The answers cells' ceiling, hand-written: `for await` over the answer, each token encoded by
 * hand and written, and when write() returns false, wait for 'drain' (or the client's close).
 * Its bound: the response's writableHighWaterMark (16 KiB) plus the write that crossed it.
 */
async function streamAnswer (res, spec) {
  res.writeHead(200, HEADERS)
  let closed = false
  let wake
  res.on('close', () => {
    closed = true
    wake?.()
  })
  res.on('drain', () => wake?.())
  for await (const frame of answer(spec, handFrame, stallProgress(spec, res))) {
    if (closed) break
    if (!res.write(frame)) {
      await new Promise((resolve) => { wake = resolve })
      wake = undefined
      if (closed) break
    }
  }
  if (!closed) res.end()
}

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1')
  const query = Object.fromEntries(url.searchParams)
  if (url.pathname === '/events') {
    res.writeHead(200, HEADERS)
    res.flushHeaders()
    responses.add(res)
    res.on('close', () => responses.delete(res))
  } else if (url.pathname === '/answer') {
    let spec
    try {
      spec = parseAnswer(query)
    } catch (err) {
      res.writeHead(400)
      res.end(String(err.message))
      return
    }
    streamAnswer(res, spec).catch((err) => res.destroy(err))
  } else if (url.pathname === '/answer-stats') {
    json(res, answerStats({ highWaterMark: stalled.res?.writableHighWaterMark ?? 16_384, asserted: true }))
  } else if (url.pathname === '/publish') {
    burst(parseBurst(query), publish).then((result) => json(res, result), (err) => {
      res.writeHead(400)
      res.end(String(err.message))
    })
  } else if (url.pathname === '/stats') {
    json(res, serverStats(responses.size, query.gc === '1'))
  } else {
    res.writeHead(404)
    res.end()
  }
})

server.listen({ port: 0, host: '127.0.0.1' }, () => announce(server.address().port))
