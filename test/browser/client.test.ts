// fastify-sse-hub/client in Chromium, loaded as an ES module with no bundler: the backoff after
// the browser gives up on a 503, the last event id carried across that reconnect, and a 204 that
// ends the client for good.
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Page } from 'playwright-core'
import type { SseStream } from '../../lib/index'
import { listen } from '../helpers/app'
import { chromiumMissing, launchChromium } from '../helpers/browser'

const CLIENT = join(__dirname, '..', '..', 'dist', 'client', 'index.js')

// The page under test: the client from the import map, everything it reports kept on `harness`.
function harnessPage (path: string, options: object): string {
  return `<!DOCTYPE html>
<script type="importmap">{ "imports": { "fastify-sse-hub/client": "/client/index.js" } }</script>
<script type="module">
  import { SseClient } from 'fastify-sse-hub/client'
  const harness = globalThis.harness = { states: [], received: [], resets: [] }
  const client = harness.client = new SseClient(${JSON.stringify(path)}, ${JSON.stringify(options)})
  client.onState(({ state, attempt, delay, reason }) => harness.states.push({ state, attempt, delay, reason }))
  client.onReset((reset) => harness.resets.push(reset))
  client.on('message', (data, event) => harness.received.push({ data, id: event.lastEventId }))
</script>`
}

/** Serves the page at `/` and the built client next to it. */
function servePage (app: FastifyInstance, page: string): void {
  app.get('/', (_request, reply) => reply.type('text/html').send(page))
  app.get('/client/index.js', async (_request, reply) => reply.type('text/javascript').send(await readFile(CLIENT)))
}

function harness<T> (page: Page, expression: string): Promise<T> {
  return page.evaluate(`harness.${expression}`) as Promise<T>
}

interface Request { method: string, header?: string, query?: string, status: number }

function describe (request: { method: string, headers: Record<string, unknown>, query: unknown }, status: number): Request {
  const header = request.headers['last-event-id'] as string | undefined
  const query = (request.query as { lastEventId?: string }).lastEventId
  return { method: request.method, header, query, status }
}

if (!chromiumMissing(t)) {
  t.test('after a 503 the client backs off, then resumes from its last id in the query', async (t) => {
    const streams: SseStream[] = []
    const requests: Request[] = []
    let down = 0
    const { app, url } = await listen(t, { retry: 50 }, (app) => {
      servePage(app, harnessPage('/flaky', { backoff: { initialDelay: 100, factor: 3, jitter: 0 } }))
      app.route({
        method: ['GET', 'HEAD'],
        url: '/flaky',
        handler: (request, reply) => {
          const status = down > 0 ? 503 : 200
          requests.push(describe(request, status))
          if (request.method === 'HEAD') return reply.code(status).send() // the probe: what a GET would get
          if (status === 503) {
            down--
            return reply.code(503).send({ error: 'try later' })
          }
          streams.push(reply.sse())
        }
      })
    })
    const browser = await launchChromium(t)
    const page = await browser.newPage()
    await page.goto(url)
    await page.waitForFunction('harness.states.some((s) => s.state === "open")')
    const seen = await app.sse.publish({ event: 'message', data: { text: 'seen' } })
    await page.waitForFunction('harness.received.length === 1')

    down = 2
    streams[0].close() // Chromium reconnects by itself, gets a 503 and gives up for good
    await page.waitForFunction('harness.states.some((s) => s.attempt === 1)')
    const missed = await app.sse.publish({ event: 'message', data: { text: 'published while away' } })
    await page.waitForFunction('harness.received.length === 2')

    t.same(await harness(page, 'states'), [
      { state: 'open' },
      { state: 'reconnecting' },
      { state: 'reconnecting', attempt: 1, delay: 100 },
      { state: 'reconnecting', attempt: 2, delay: 300 },
      { state: 'open' }
    ], 'the browser\'s own retry, then the client\'s backoff: 100 ms, then 300 ms')
    t.same(requests, [
      { method: 'GET', header: undefined, query: undefined, status: 200 },
      { method: 'GET', header: seen.id, query: undefined, status: 503 },
      { method: 'HEAD', header: undefined, query: seen.id, status: 503 },
      { method: 'GET', header: undefined, query: seen.id, status: 503 },
      { method: 'HEAD', header: undefined, query: seen.id, status: 200 },
      { method: 'GET', header: undefined, query: seen.id, status: 200 }
    ], 'Last-Event-ID from the browser; lastEventId in the query of the probes and the client\'s reconnects')
    t.same(await harness(page, 'received'), [
      { data: { text: 'seen' }, id: seen.id },
      { data: { text: 'published while away' }, id: missed.id }
    ], 'the event published while away arrives, once')
    t.equal(await harness(page, 'client.lastEventId'), missed.id)
    t.same(await harness(page, 'resets'), [])
  })

  t.test('a 204 closes the client for good: state closed, reason finished, no request after the probe', async (t) => {
    const requests: Request[] = []
    let more = () => {}
    const { url } = await listen(t, {}, (app) => {
      servePage(app, harnessPage('/answer', { backoff: { initialDelay: 20, jitter: 0 } }))
      // A plain route standing in for a finished topic: one event, then 204 to GET and HEAD alike.
      app.route({
        method: ['GET', 'HEAD'],
        url: '/answer',
        handler: (request, reply) => {
          const finished = requests.length > 0
          requests.push(describe(request, finished ? 204 : 200))
          more()
          if (finished) return reply.code(204).send()
          reply.hijack()
          reply.raw.writeHead(200, { 'content-type': 'text/event-stream' })
          reply.raw.end('retry: 50\nid: 1\ndata: {"n":1}\n\n')
        }
      })
    })
    const browser = await launchChromium(t)
    const page = await browser.newPage()
    await page.goto(url)
    await page.waitForFunction('harness.states.some((s) => s.state === "closed")', undefined, { timeout: 5000 })
    const another = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 500)
      more = () => { clearTimeout(timer); resolve(true) }
    })

    t.same(await harness(page, 'states'), [
      { state: 'open' },
      { state: 'reconnecting' },
      { state: 'closed', reason: 'finished' }
    ], 'no backoff')
    t.same(requests, [
      { method: 'GET', header: undefined, query: undefined, status: 200 },
      { method: 'GET', header: '1', query: undefined, status: 204 },
      { method: 'HEAD', header: undefined, query: '1', status: 204 }
    ], 'the browser\'s own reconnect gets 204; the probe with the last id in the query too')
    t.notOk(another, 'no request in the 500 ms after the probe')
    t.same(await harness(page, 'received'), [{ data: { n: 1 }, id: '1' }])
    t.equal(await harness(page, 'client.state'), 'closed')
  })
}
