// Ceiling: plain node:http, each event encoded once into a Buffer written to every response.
// No validation, no history, no backlog bound: nothing but the fan-out.
import { createServer } from 'node:http'
import { EVENT_NAME, makeJson } from '../common/payload.mjs'
import { announce, burst, parseBurst, serverStats } from '../common/server-kit.mjs'

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

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1')
  const query = Object.fromEntries(url.searchParams)
  if (url.pathname === '/events') {
    res.writeHead(200, HEADERS)
    res.flushHeaders()
    responses.add(res)
    res.on('close', () => responses.delete(res))
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
