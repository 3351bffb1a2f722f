// Soak of the memory store's bounded history (issue 12), run with `node --expose-gc`:
//   1. one event to each of 1,000,000 distinct topics: heap after a full GC at 100k, 500k and
//      1M published topics, with the default limits (history 1000, historyMaxBytes 64 MiB);
//   2. 100,000 connect/disconnect cycles over loopback, each on its own per-user topic with one
//      event published to it while connected: heap after a full GC back where it started once
//      the events have aged out (historyMaxAge 2 s here) and the sweep has let the topics go.
//   options: --topics=N (default 1e6)  --cycles=N (default 1e5)  --only=topics|cycles
import { connect } from 'node:net'
import Fastify from 'fastify'
import fastifySse from '../dist/index.js'

if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc')
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')))
const TOPICS = Number(args.topics ?? 1_000_000)
const CYCLES = Number(args.cycles ?? 100_000)
const CONCURRENCY = 50
const MiB = 1024 * 1024
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Heap (plus external memory) after full collections, in MiB. */
function heapAfterGc () {
  for (let i = 0; i < 3; i++) global.gc()
  const { heapUsed, external } = process.memoryUsage()
  return (heapUsed + external) / MiB
}

async function manyTopics () {
  const app = Fastify()
  await app.register(fastifySse)
  await app.ready()
  const start = heapAfterGc()
  const marks = new Set([100_000, 500_000, 1_000_000, TOPICS])
  const rows = []
  const began = Date.now()
  for (let i = 1; i <= TOPICS; i++) {
    await app.sse.publish({ event: 'notification', data: { user: i, text: 'hello' }, topic: `user:${i}` })
    if (marks.has(i)) {
      const { topics, retainedBytes } = app.sse.stats()
      rows.push({ published: i, heapMiB: +(heapAfterGc() - start).toFixed(1), topics, retainedMiB: +(retainedBytes / MiB).toFixed(1) })
      console.error(JSON.stringify(rows.at(-1)))
    }
  }
  await app.close()
  return { startMiB: +start.toFixed(1), seconds: (Date.now() - began) / 1000, rows }
}

/** One client: connects to its user's stream, waits for the event published to it, leaves. */
function cycle (port, app, user) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    let published = false
    socket.setEncoding('utf8')
    socket.on('error', reject)
    socket.on('data', (chunk) => {
      text += chunk
      if (!published && text.includes('\nid:')) {
        published = true
        app.sse.publish({ event: 'notification', data: { user, text: 'hello' }, topic: `user:${user}` }).catch(reject)
      }
      if (text.includes('event: notification')) {
        socket.destroy()
        resolve()
      }
    })
    socket.write(`GET /events/${user} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`)
  })
}

async function connectCycles () {
  const app = Fastify()
  await app.register(fastifySse, { historyMaxAge: 2000 })
  app.get('/events/:user', (request, reply) => reply.sse({ topics: [`user:${request.params.user}`] }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = app.server.address().port
  let next = 0
  const run = async (count) => {
    const end = next + count
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < end) await cycle(port, app, next++)
    }))
    while (app.sse.stats().connections > 0) await sleep(10)
  }
  const settle = async () => {
    // Past historyMaxAge and one sweep (5 s): the events age out and the topics are forgotten.
    await sleep(7500)
    return heapAfterGc()
  }
  await run(2000) // warm-up: code compiled, pools and maps at their working size
  const start = await settle()
  const began = Date.now()
  await run(CYCLES)
  const seconds = (Date.now() - began) / 1000
  const peak = app.sse.stats()
  const end = await settle()
  const after = app.sse.stats()
  await app.close()
  return {
    cycles: CYCLES,
    seconds,
    startMiB: +start.toFixed(1),
    endMiB: +end.toFixed(1),
    changePercent: +((end - start) / start * 100).toFixed(1),
    topicsRightAfter: peak.topics,
    topicsAfterSweep: after.topics,
    retainedBytesAfterSweep: after.retainedBytes
  }
}

const result = { node: process.version }
if (args.only !== 'cycles') result.manyTopics = await manyTopics()
if (args.only !== 'topics') result.connectCycles = await connectCycles()
console.log(JSON.stringify(result, null, 2))
