// Reconnect storm (issue 12): 10,000 clients connecting at once over loopback to a topic that
// retains `history` 1000 events, each with a Last-Event-ID 10 events back (a deploy's worth of
// missed events), against the same clients connecting without one. Measures the time from the
// first connect until every client has what it came for: its replay, or the id-only first
// frame. The server runs in a child pinned to core 0, the clients in one pinned to core 1.
//   node bench/reconnect-storm.mjs [--clients=10000] [--reps=3] [--missed=10]
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { pinnedNode } from './common/pinned.mjs'

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')))
const SCRIPT = fileURLToPath(import.meta.url)
const HISTORY = 1000
const DEADLINE_MS = 120_000

/** Runs this script as `role`, pinned to `core` with a raised open-files limit; resolves its first stdout line. */
function child (role, core, extra) {
  const [cmd, cmdArgs] = pinnedNode(core, [SCRIPT, `--role=${role}`, ...extra])
  const proc = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'inherit'] })
  const line = new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${role}: no answer`)) }, DEADLINE_MS)
    proc.stdout.on('data', (chunk) => {
      out += chunk
      const nl = out.indexOf('\n')
      if (nl === -1) return
      clearTimeout(timer)
      resolve(JSON.parse(out.slice(0, nl)))
    })
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${role} exited (${code})`)) })
  })
  return { proc, line }
}

async function server () {
  const { default: Fastify } = await import('fastify')
  const { default: fastifySse } = await import('../dist/index.js')
  const app = Fastify()
  await app.register(fastifySse, { history: HISTORY, heartbeat: 0 })
  app.get('/events', (request, reply) => reply.sse())
  const ids = []
  for (let i = 0; i < HISTORY; i++) ids.push((await app.sse.publish({ event: 'tick', data: { i, text: 'an event of about a hundred bytes, as a notification would be' } })).id)
  await app.listen({ port: 0, host: '127.0.0.1', backlog: 65535 })
  console.log(JSON.stringify({ port: app.server.address().port, ids }))
}

async function clients () {
  const port = Number(args.port)
  const lastEventId = args.lastEventId
  const expect = args.expect // the id the client waits for: its last replayed event, or the priming frame's
  const count = Number(args.clients)
  const sockets = []
  let done = 0
  const started = process.hrtime.bigint()
  await new Promise((resolve, reject) => {
    for (let i = 0; i < count; i++) {
      const socket = connect(port, '127.0.0.1')
      sockets.push(socket)
      let text = ''
      let finished = false
      socket.setEncoding('latin1')
      socket.on('error', reject)
      socket.on('data', (chunk) => {
        if (finished) return
        text += chunk
        if (!text.includes(`id: ${expect}\n`) && !text.includes(`id:${expect}\n`)) return
        finished = true
        if (++done === count) resolve()
      })
      socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${lastEventId === undefined ? '' : `Last-Event-ID: ${lastEventId}\r\n`}\r\n`)
    }
  })
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  console.log(JSON.stringify({ ms }))
  for (const socket of sockets) socket.destroy()
}

async function main () {
  const count = Number(args.clients ?? 10_000)
  const reps = Number(args.reps ?? 3)
  const missed = Number(args.missed ?? 10)
  const results = { clients: count, history: HISTORY, missed, replayMs: [], freshMs: [] }
  for (let rep = 0; rep < reps; rep++) {
    const modes = rep % 2 === 0 ? ['replay', 'fresh'] : ['fresh', 'replay']
    for (const mode of modes) {
      const srv = child('server', 0, [])
      const { port, ids } = await srv.line
      const newest = ids[ids.length - 1]
      const extra = [`--port=${port}`, `--clients=${count}`, `--expect=${newest}`]
      if (mode === 'replay') extra.push(`--lastEventId=${ids[ids.length - 1 - missed]}`)
      const load = child('clients', 1, extra)
      const { ms } = await load.line
      results[mode === 'replay' ? 'replayMs' : 'freshMs'].push(Math.round(ms))
      console.error(`rep ${rep + 1} ${mode}: ${Math.round(ms)} ms`)
      load.proc.kill()
      srv.proc.kill()
    }
  }
  const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]
  results.replayMedianMs = median(results.replayMs)
  results.freshMedianMs = median(results.freshMs)
  console.log(JSON.stringify(results, null, 2))
}

if (args.role === 'server') await server()
else if (args.role === 'clients') await clients()
else await main()
