// A rolling deploy (issue 13.5): instance A holds 5,000 streams and closes; its clients come back
// to instance B. Counts the reconnects arriving at B per 100 ms over 5 s from the first one, with A's `shutdownSpread` at its default (5000 ms) and at 0 (off: every client waits
// the same 3 s, a browser's default reconnection time). The two servers share core 0, the
// clients run on core 1. Each client behaves as EventSource does: it keeps the last `retry:` it
// received (3000 ms until then), and when its stream ends it waits that long and reconnects,
// here to B.
//   node bench/shutdown-spread.mjs [--clients=5000] [--reps=3]
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { hasTaskset, pinnedNode } from './common/pinned.mjs'

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')))
const SCRIPT = fileURLToPath(import.meta.url)
/** How long any one step may take before the run is abandoned. */
const STEP_MS = 60_000
const BUCKET_MS = 100
/** The window counted: the default spread, from the first reconnect (A's close takes up to seconds on a busy machine). */
const WINDOW_MS = 5000
/** EventSource's reconnection time before any `retry:` (Chrome, Safari, undici). */
const DEFAULT_RETRY_MS = 3000
const now = () => performance.timeOrigin + performance.now()

/** Runs this script as `role`, pinned to `core` with a raised open-files limit; `next()` resolves its next stdout line. */
function child (role, core, extra) {
  const [cmd, cmdArgs] = pinnedNode(core, [SCRIPT, `--role=${role}`, ...extra])
  const proc = spawn(cmd, cmdArgs, { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = []
  const waiting = []
  let exited
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const value = JSON.parse(line)
    if (waiting.length > 0) waiting.shift().resolve(value)
    else lines.push(value)
  })
  proc.on('exit', (code) => {
    exited = new Error(`${role} exited (${code})`)
    for (const w of waiting.splice(0)) w.reject(exited)
  })
  const next = () => {
    if (lines.length > 0) return Promise.resolve(lines.shift())
    if (exited !== undefined) return Promise.reject(exited)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${role}: no answer in ${STEP_MS} ms`)), STEP_MS)
      waiting.push({ resolve: (v) => { clearTimeout(timer); resolve(v) }, reject: (e) => { clearTimeout(timer); reject(e) } })
    })
  }
  const send = (command) => proc.stdin.write(command + '\n')
  return { proc, next, send }
}

/** A server: on stdin `close` it closes and says when it began and how long it took; on `report`, when each stream arrived. */
async function server () {
  const { default: Fastify } = await import('fastify')
  const { default: fastifySse } = await import('../dist/index.js')
  const app = Fastify()
  const options = { heartbeat: 0 }
  if (args.spread !== 'default') options.shutdownSpread = Number(args.spread)
  await app.register(fastifySse, options)
  const arrivals = []
  app.get('/events', (request, reply) => {
    arrivals.push(now())
    reply.sse()
  })
  await app.listen({ port: 0, host: '127.0.0.1', backlog: 65535 })
  console.log(JSON.stringify({ port: app.server.address().port }))
  createInterface({ input: process.stdin }).on('line', async (command) => {
    if (command === 'close') {
      const started = now()
      await app.close()
      console.log(JSON.stringify({ closeStarted: started, closeMs: now() - started }))
    } else if (command === 'report') {
      console.log(JSON.stringify({ arrivals }))
    }
  })
}

/** The clients: open `count` streams on A, then reconnect each one to B as EventSource would. */
async function clients () {
  const count = Number(args.clients)
  let opened = 0
  let reconnected = 0
  /** When each stream on A ended, and when its client set off for B. */
  const ended = []
  const sent = []
  const request = 'GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n'
  const onB = () => {
    sent.push(now())
    const socket = connect(Number(args.portB), '127.0.0.1')
    socket.setEncoding('latin1')
    socket.on('error', () => {})
    let seen = false
    socket.on('data', () => {
      if (seen) return
      seen = true
      if (++reconnected === count) console.log(JSON.stringify({ ended, sent }))
    })
    socket.write(request)
  }
  for (let i = 0; i < count; i++) {
    const socket = connect(Number(args.portA), '127.0.0.1')
    socket.setEncoding('latin1')
    socket.on('error', () => {})
    let text = ''
    let first = true
    socket.on('data', (chunk) => {
      text += chunk
      if (first && text.includes('\n\n')) {
        first = false
        if (++opened === count) console.log(JSON.stringify({ opened }))
      }
    })
    socket.once('close', () => {
      ended.push(now())
      // The last `retry:` field wins, as in EventSource (chunked framing never splits a line's field).
      const found = [...text.matchAll(/(?:^|\n)retry: ?(\d+)\n/g)]
      const retry = found.length === 0 ? DEFAULT_RETRY_MS : Number(found[found.length - 1][1])
      setTimeout(onB, retry)
    })
    socket.write(request)
  }
}

function summarize (arrivals, closeStarted) {
  const start = Math.min(...arrivals)
  const buckets = new Array(WINDOW_MS / BUCKET_MS).fill(0)
  let outside = 0
  for (const at of arrivals) {
    const bucket = Math.floor((at - start) / BUCKET_MS)
    if (bucket >= 0 && bucket < buckets.length) buckets[bucket]++
    else outside++
  }
  const peak = Math.max(...buckets)
  const mean = (arrivals.length - outside) / buckets.length
  const sorted = [...arrivals].sort((a, b) => a - b)
  return {
    reconnects: arrivals.length,
    outsideWindow: outside,
    peak,
    mean,
    peakOverMean: Number((peak / mean).toFixed(2)),
    firstMs: Math.round(sorted[0] - closeStarted),
    lastMs: Math.round(sorted[sorted.length - 1] - closeStarted),
    buckets
  }
}

async function run (spread, count) {
  const a = child('server', 0, [`--spread=${spread}`])
  const b = child('server', 0, ['--spread=default'])
  try {
    const [{ port: portA }, { port: portB }] = await Promise.all([a.next(), b.next()])
    const load = child('clients', 1, [`--portA=${portA}`, `--portB=${portB}`, `--clients=${count}`])
    try {
      await load.next() // every stream open on A
      a.send('close')
      const { closeStarted, closeMs } = await a.next()
      const { ended, sent } = await load.next() // every client back, on B
      b.send('report')
      const { arrivals } = await b.next()
      const endedMs = ended.map((at) => at - closeStarted).sort((x, y) => x - y)
      return {
        closeMs: Math.round(closeMs),
        // When A's clients saw their streams end, from A's close: the last one is how long ending them all took.
        endedMs: [Math.round(endedMs[0]), Math.round(endedMs[endedMs.length - 1])],
        // What the clients sent to B (the load shutdownSpread shapes), and what B took in (its handler ran).
        offered: summarize(sent, closeStarted),
        ...summarize(arrivals, closeStarted)
      }
    } finally {
      load.proc.kill('SIGKILL')
    }
  } finally {
    a.proc.kill('SIGKILL')
    b.proc.kill('SIGKILL')
  }
}

async function main () {
  const count = Number(args.clients ?? 5000)
  const reps = Number(args.reps ?? 3)
  const results = { clients: count, bucketMs: BUCKET_MS, windowMs: WINDOW_MS, pinned: hasTaskset, default: [], off: [] }
  for (let rep = 0; rep < reps; rep++) {
    for (const mode of rep % 2 === 0 ? ['default', 'off'] : ['off', 'default']) {
      const result = await run(mode === 'default' ? 'default' : '0', count)
      results[mode].push(result)
      console.error(`rep ${rep + 1} shutdownSpread ${mode === 'default' ? '5000 (default)' : '0'}: close ${result.closeMs} ms; ` +
        `${result.reconnects} reconnects from ${result.firstMs} to ${result.lastMs} ms; per ${BUCKET_MS} ms peak ${result.peak}, ` +
        `mean ${result.mean.toFixed(1)}, peak/mean ${result.peakOverMean} (sent by the clients: peak/mean ${result.offered.peakOverMean})`)
    }
  }
  if (args.buckets === undefined) {
    for (const list of [results.default, results.off]) for (const result of list) { delete result.buckets; delete result.offered.buckets }
  }
  console.log(JSON.stringify(results, null, 2))
}

if (args.role === 'server') await server()
else if (args.role === 'clients') await clients()
else await main()
