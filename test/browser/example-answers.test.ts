// The example's Ask panel in headless Chromium: a resumable answer survives a reload mid-answer
// (shown whole, every token once, then EventSource stops at the 204), two tabs of the page leave
// connections for its own requests, and an answer lost in a restart is reported as lost.
import t from 'tap'
import type { BrowserContext, Page } from 'playwright-core'
import { chromiumMissing, launchChromium, startExample, type ExampleServer } from '../helpers/browser'
import { exampleModule, type ExampleAnswers } from '../helpers/example'

// 2 ms a token: an answer takes seconds, time enough to reload mid-answer.
const PACE = { ANSWER_TOKEN_MS: '2' }
// 20 ms a token: answers that outlast the test that asks for them.
const SLOW = { ANSWER_TOKEN_MS: '20' }

const answerBadge = (state: string): string => `[data-stream="answer"][data-state="${state}"]`
const tokensShown = async (page: Page): Promise<number> => Number(await page.getAttribute('#answer-text', 'data-tokens'))

async function ask (page: Page, question: string): Promise<void> {
  await page.fill('#ask-form [name=question]', question)
  await page.click('#ask-form button')
}

if (!chromiumMissing(t)) {
  let server: ExampleServer
  let context: BrowserContext
  let answers: ExampleAnswers
  const errors: string[] = []

  t.before(async () => {
    answers = await exampleModule<ExampleAnswers>('answers.mjs')
    server = await startExample(t, 0, PACE)
    const browser = await launchChromium(t)
    // One context: its tabs share the browser's connections to the host, as a user's tabs do.
    context = await browser.newContext({ viewport: { width: 1280, height: 760 } })
    context.on('page', (page) => page.on('pageerror', (error) => errors.push(error.message)))
  })

  t.test('a reload mid-answer shows the whole answer exactly once, then the rest live; at the end EventSource gets 204 and stops', async (t) => {
    const page = await context.newPage()
    const statuses: number[] = []
    page.on('response', (response) => { if (/\/answers\/[^/]+$/.test(response.url())) statuses.push(response.status()) })
    await page.goto(`${server.url}/?user=dora`)
    await page.waitForSelector('[data-stream="events"][data-state="open"]')
    const question = 'What survives a reload?'
    await ask(page, question)
    await page.waitForSelector('#answer-question:text-is("What survives a reload?")')
    await page.waitForFunction('Number(document.querySelector("#answer-text").dataset.tokens) >= 200')
    const before = await page.textContent('#answer-text') as string

    await page.reload()
    // The answer so far comes first, from the backfill.
    await page.waitForFunction(`document.querySelector('#answer-text').textContent.startsWith(${JSON.stringify(before)})`)
    await page.waitForSelector(answerBadge('open'))
    const afterReload = await tokensShown(page)
    t.ok(afterReload < answers.ANSWER_TOKENS, `reloaded mid-answer (${afterReload} of ${answers.ANSWER_TOKENS} tokens shown)`)

    await page.waitForSelector(answerBadge('complete'), { timeout: 40_000 })
    t.equal(await page.textContent('#answer-text'), answers.answerText(question), 'the whole answer, as the generator wrote it')
    t.equal(await tokensShown(page), answers.ANSWER_TOKENS, 'every token once since the reload: backfill, then live')
    t.equal(await page.textContent('#answer-question'), question)
    t.equal(await page.evaluate('sse.answer.readyState'), 2, 'EventSource CLOSED: it stopped reconnecting')
    t.equal(statuses.at(-1), 204, 'the reconnect after the end was answered 204')
    t.match(await page.textContent('#answer-meta'), /^2,400 tokens · complete$/)

    // Another reload: the finished answer, whole, then 204 again.
    await page.reload()
    await page.waitForSelector(answerBadge('complete'))
    t.equal(await page.textContent('#answer-text'), answers.answerText(question), 'a finished answer is shown again after a reload')
    await page.close()
  })

  t.test('two tabs, each with its stream and an answer running: the page\'s own requests still go through', async (t) => {
    const slow = await startExample(t, 0, SLOW)
    const tabs = [await context.newPage(), await context.newPage()]
    for (const [i, tab] of tabs.entries()) {
      await tab.goto(`${slow.url}/?user=tab${i}`)
      await tab.waitForSelector('[data-stream="events"][data-state="open"]')
      await ask(tab, `Question from tab ${i}`)
      await tab.waitForSelector(answerBadge('open'))
    }
    // Four connections held open (six per host in all): a POST and a fetch from either tab go through.
    await tabs[1].fill('#broadcast [name=message]', 'Still room for requests')
    await tabs[1].click('#broadcast button')
    for (const tab of tabs) await tab.waitForSelector('#messages li:text-is("Still room for requests")', { timeout: 5000 })
    t.match(await tabs[1].textContent('#broadcast-result'), /^Sent to 2 clients/)
    t.same(await tabs[0].evaluate(async () => await (await fetch('/state')).json()), { online: 2 })
    for (const tab of tabs) t.equal(await tab.getAttribute('[data-stream="answer"]', 'data-state'), 'open', 'while the answers were streaming')
    for (const tab of tabs) await tab.close()
  })

  t.test('an answer lost in a server restart is reported lost, and forgotten', async (t) => {
    const page = await context.newPage()
    await page.goto(`${server.url}/?user=erin`)
    await ask(page, 'Will this outlive the server?')
    await page.waitForFunction('Number(document.querySelector("#answer-text").dataset.tokens) >= 50')
    await server.stop()
    await page.waitForSelector(answerBadge('reconnecting'))
    server = await startExample(t, server.port, PACE)
    // Its Last-Event-ID is from the old process: sse-reset, and the generation died with it.
    await page.waitForSelector(answerBadge('lost'))
    t.equal(await page.evaluate('sse.answer.readyState'), 2, 'closed: nothing more will come')
    t.equal(await page.evaluate('sessionStorage.length'), 0, 'the id is forgotten: a reload shows no answer')
    await page.close()
  })

  t.test('no script error on the pages', async (t) => {
    t.same(errors, [])
  })
}
