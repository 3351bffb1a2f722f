// The example in headless Chromium: every scenario of the guide on one page and one stream, the
// live chart, and a server restart in the middle of the stream.
import t from 'tap'
import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { chromiumMissing, launchChromium, startExample, type ExampleServer } from '../helpers/browser'

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts')
const DOCS = join(__dirname, '..', '..', 'docs')
// docs/dashboard.png (the README's picture) changes only when asked, with a fuller chart:
// SSE_UPDATE_SCREENSHOT=1 npx tap test/browser/example.test.ts
const updateScreenshot = process.env.SSE_UPDATE_SCREENSHOT === '1'

/** The titles of a notification list, newest first, with the event ids the page recorded. */
function notifications (page: Page, list: string): Promise<Array<{ id: string, text: string }>> {
  return page.locator(`${list} li`).evaluateAll((items) => items.map((item) => ({
    id: (item as unknown as { dataset: { id: string } }).dataset.id,
    text: String(item.textContent)
  })))
}

function badge (stream: string, attributes: string): string {
  return `[data-stream="${stream}"]${attributes}`
}

if (!chromiumMissing(t)) {
  let server: ExampleServer
  let page: Page
  const errors: string[] = []

  t.before(async () => {
    server = await startExample(t)
    const browser = await launchChromium(t)
    page = await browser.newPage({ viewport: { width: 1280, height: 760 } })
    page.on('pageerror', (error) => errors.push(error.message))
    await page.goto(`${server.url}/?user=alice`)
  })

  t.test('the page connects its one stream and shows every scenario', async (t) => {
    await page.waitForSelector(badge('events', '[data-state="open"]'))
    t.equal(await page.getAttribute(badge('answer', ''), 'data-state'), 'idle', 'no answer stream until one is asked for')
    await page.waitForSelector('#messages li:text("Connected to server")')
    await page.waitForSelector('#online:text("1")')
    await page.waitForSelector('#presence li:text("came online")')

    // Basic server: POST /broadcast reports the streams on 'broadcast' it was written to.
    await page.fill('#broadcast [name=message]', 'Hello everyone')
    await page.click('#broadcast button')
    await page.waitForSelector('#messages li:text-is("Hello everyone")')
    t.match(await page.textContent('#broadcast-result'), /^Sent to 1 client · id \S+-\d+$/)

    // Named events with ids, from a route; the page reads the parsed, typed data.
    const sent = await server.post('/notify', { title: 'Deploy', message: 'v2 is live' })
    await page.waitForSelector(`#notifications li[data-id="${sent.id}"]`)
    t.same(await notifications(page, '#notifications'), [{ id: sent.id, text: 'Deploy v2 is live' }])
    // The id it resumes from: this notification's, or a later event's (stats go out every second).
    const [epoch, seq] = String(await page.evaluate('sse.hub.lastEventId')).split('-')
    t.equal(epoch, sent.id.split('-')[0], 'the client tracks the id it resumes from')
    t.ok(Number(seq) >= Number(sent.id.split('-')[1]), 'at or after the notification')

    // Per-user: a topic per user, on the same stream; another user's notification never reaches this page.
    await server.post('/notify/bob', { title: 'For Bob', message: 'not for alice' })
    await page.fill('#notify-user [name=title]', 'Just you')
    await page.fill('#notify-user [name=message]', 'from the form')
    await page.click('#notify-user button')
    await page.waitForSelector('#my-notifications li:has-text("Just you")')
    t.same((await notifications(page, '#my-notifications')).map((n) => n.text), ['Just you from the form'])
    t.same((await notifications(page, '#notifications')).map((n) => n.text), ['Deploy v2 is live'], 'nothing private on the broadcast')
  })

  t.test('the analytics chart updates every second', async (t) => {
    const chart = '#chart-heap'
    const updates = async (): Promise<number> => Number(await page.getAttribute(chart, 'data-updates'))
    // Right after a tick of the server's timer, then two ticks later.
    const seen = await updates()
    await page.waitForFunction(`document.querySelector('${chart}').dataset.updates > ${seen}`)
    const first = await page.getAttribute(`${chart} .line`, 'd')
    const started = Date.now()
    const next = await updates()
    await page.waitForFunction(`document.querySelector('${chart}').dataset.updates >= ${next + 2}`)
    t.ok(Date.now() - started >= 1000, 'two updates took seconds, not a burst')
    t.equal(await page.textContent('#stat-connections'), '1', 'one stream for the whole page')
    if (updateScreenshot) {
      // Some traffic for the requests chart, half a minute of history, and an answer being
      // written in the Ask panel (2,400 tokens at 8 ms: still streaming ten seconds later).
      const traffic = setInterval(() => { if (Math.random() < 0.5) fetch(`${server.url}/state`).catch(() => {}) }, 100)
      await page.waitForFunction(`document.querySelector('${chart}').dataset.updates >= 20`, undefined, { timeout: 30_000 })
      await page.click('#ask-form button')
      await page.waitForFunction(`document.querySelector('${chart}').dataset.updates >= 30`, undefined, { timeout: 20_000 })
      clearInterval(traffic)
    }
    t.not(await page.getAttribute(`${chart} .line`, 'd'), first, 'the line was redrawn')
    t.match(await page.textContent(`${chart} .label`), /^Heap used: \d+\.\d MB$/)
    t.equal(await page.textContent('#stat-activeUsers'), '1')

    await mkdir(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true })
    if (updateScreenshot) await copyFile(join(ARTIFACTS, 'dashboard.png'), join(DOCS, 'dashboard.png'))
  })

  t.test('a restart mid-stream: sse-reset `unknown`, state reloaded, no notification lost or doubled', async (t) => {
    const before = await server.post('/notify', { title: 'Before', message: 'the restart' })
    const mineBefore = await server.post('/notify/alice', { title: 'Mine before', message: '' })
    await page.waitForSelector(`#my-notifications li[data-id="${mineBefore.id}"]`)
    await page.waitForSelector(`#notifications li[data-id="${before.id}"]`)
    const updates = Number(await page.getAttribute('#chart-heap', 'data-updates'))

    await server.stop()
    await page.waitForSelector(badge('events', '[data-state="reconnecting"]'))

    server = await startExample(t, server.port)
    // Published before or after the page is back: either way it must arrive, once.
    const during = await server.post('/notify', { title: 'After', message: 'the restart' })
    const mineDuring = await server.post('/notify/alice', { title: 'Mine after', message: '' })

    await page.waitForSelector(badge('events', '[data-state="open"][data-reset="unknown"]'))
    await page.waitForSelector(`#notifications li[data-id="${during.id}"]`)
    await page.waitForSelector(`#my-notifications li[data-id="${mineDuring.id}"]`)
    const after = await server.post('/notify', { title: 'Later', message: 'live again' })
    await page.waitForSelector(`#notifications li[data-id="${after.id}"]`)

    t.same((await notifications(page, '#notifications')).map((n) => n.text), [
      'Later live again', 'After the restart', 'Before the restart', 'Deploy v2 is live'
    ], 'every notification once, in order')
    t.same((await notifications(page, '#my-notifications')).map((n) => n.text), ['Mine after', 'Mine before', 'Just you from the form'])
    await page.waitForSelector('#online:text("1")') // reloaded from /state, or from a newer user-count
    await page.waitForSelector('#connection-log li:has-text("/events?user=alice: sse-reset, reason unknown")')

    await page.waitForFunction(`document.querySelector('#chart-heap').dataset.updates > ${updates + 1}`)
    t.match(await page.textContent('#stat-uptime'), /^\d s$/, 'the dashboard shows the new process')
  })

  t.test('no script error on the page', async (t) => {
    t.same(errors, [])
  })
}
