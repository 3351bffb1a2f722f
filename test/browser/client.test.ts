// fastify-sse-hub/client in Chromium, loaded as an ES module with no bundler: the backoff after
// the browser gives up on a 503, and the last event id carried across that reconnect.
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import type { SseStream } from '../../lib/index'
import { listen } from '../helpers/app'
import { chromiumMissing, launchChromium } from '../helpers/browser'

const CLIENT = join(__dirname, '..', '..', 'dist', 'client', 'index.js')

// The page under test: the client from the import map, everything it reports kept on `harness`.
const HARNESS = `<!DOCTYPE html>
<script type="importmap">{ "imports": { "fastify-sse-hub/client": "/client/index.js" } }</script>
<script type="module">
  import { SseClient } from 'fastify-sse-hub/client'
  const harness = globalThis.harness = { states: [], received: [], resets: [] }
  const client = harness.client = new SseClient('/flaky', { backoff: { initialDelay: 100, factor: 3, jitter: 0 } })
  client.onState(({ state, attempt, delay }) => harness.states.push({ state, attempt, delay }))
  client.onReset((reset) => harness.resets.push(reset))
  client.on('message', (data, event) => harness.received.push({ data, id: event.lastEventId }))
</script>`

function harness<T> (page: Page, expression: string): Promise<T> {
  return page.evaluate(`harness.${expression}`) as Promise<T>
}

if (!chromiumMissing(t)) {
  t.test('after a 503 the client backs off, then resumes from its last id in the query', async (t) => {
    const streams: SseStream[] = []
    const requests: Array<{ header?: string, query?: string, status: number }> = []
    let down = 0
    const { app, url } = await listen(t, { retry: 50 }, (app) => {
      app.get('/', (_request, reply) => reply.type('text/html').send(HARNESS))
      app.get('/client/index.js', async (_request, reply) => reply.type('text/javascript').send(await readFile(CLIENT)))
      app.get('/flaky', (request, reply) => {
        const header = request.headers['last-event-id'] as string | undefined
        const query = (request.query as { lastEventId?: string }).lastEventId
        requests.push({ header, query, status: down > 0 ? 503 : 200 })
        if (down > 0) {
          down--
          return reply.code(503).send({ error: 'try later' })
        }
        streams.push(reply.sse())
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
      { header: undefined, query: undefined, status: 200 },
      { header: seen.id, query: undefined, status: 503 },
      { header: undefined, query: seen.id, status: 503 },
      { header: undefined, query: seen.id, status: 200 }
    ], 'Last-Event-ID from the browser; lastEventId in the query once the client reconnects')
    t.same(await harness(page, 'received'), [
      { data: { text: 'seen' }, id: seen.id },
      { data: { text: 'published while away' }, id: missed.id }
    ], 'the event published while away arrives, once')
    t.equal(await harness(page, 'client.lastEventId'), missed.id)
    t.same(await harness(page, 'resets'), [])
  })
}
