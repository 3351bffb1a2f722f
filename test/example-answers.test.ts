// The example's resumable answers across instances: an answer started on instance A, read
// there until the connection drops, resumes on instance B by Last-Event-ID with exactly the
// rest; once it is complete, a reconnect gets 204 on either instance.
import { test, type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { listen, type TestApp } from './helpers/app'
import { exampleModule, type ExampleAnswerRoutes, type ExampleAnswers, type ExampleEvents } from './helpers/example'
import { RawSseClient } from './helpers/raw-client'
import { REDIS_URL, redisSkip, testPrefix } from './helpers/redis'
import { redisStore } from '../lib/redis'

/** An instance of the example's answer routes on the shared Redis, under `keyPrefix`. */
async function instance (t: Test, keyPrefix: string, tokenDelayMs: number): Promise<TestApp> {
  const { events } = await exampleModule<ExampleEvents>('events.mjs')
  const { answerRoutes } = await exampleModule<ExampleAnswerRoutes>('answer-routes.mjs')
  return await listen(t, {
    events,
    history: (topic) => topic.startsWith('answer:') ? 20_000 : 1000, // as in example/app.mjs
    store: redisStore({ url: REDIS_URL, keyPrefix })
  }, (app: FastifyInstance) => { app.register(answerRoutes, { tokenDelayMs }) })
}

async function ask (url: string, question: string): Promise<string> {
  const response = await fetch(`${url}/answers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question }) })
  return (await response.json() as { id: string }).id
}

test('redis: an answer started on A resumes exactly on B after a dropped connection; 204 on both after its end', { skip: redisSkip }, async (t) => {
  const { answerTokens, answerText } = await exampleModule<ExampleAnswers>('answers.mjs')
  const keyPrefix = testPrefix(t)
  const a = await instance(t, keyPrefix, 0)
  const b = await instance(t, keyPrefix, 0)
  const question = 'Does an answer survive a move to another instance?'
  const expected = answerTokens(question)
  const id = await ask(a.url, question)

  const onA = new RawSseClient(a.port, `/answers/${id}`)
  t.teardown(() => onA.close())
  // No delay between tokens: each publish waits for Redis, so 2,400 of them take seconds.
  await onA.until(() => onA.events.length >= 50, 'the question and 49 tokens', 10_000)
  onA.close() // the connection drops mid-answer
  const before = onA.events.slice()
  const resumeFrom = onA.parser.lastEventId
  t.ok(before.length - 1 < expected.length, 'dropped before the end of the answer')
  t.equal(resumeFrom, before.at(-1)?.lastEventId, 'the last id is that of the last event received')

  const onB = new RawSseClient(b.port, `/answers/${id}`, { 'last-event-id': resumeFrom })
  t.teardown(() => onB.close())
  await onB.until(() => onB.events.length > 0, 'the first event on B')
  t.ok(onB.events.length < expected.length - (before.length - 1), 'B joined while A was still writing the answer')
  await onB.responseEnd(30_000) // the stream ends after the final token
  t.equal(onB.response?.status, 200)
  t.ok(onB.events.length > 0)
  t.notOk(onB.events.some((event) => event.type === 'sse-reset'), 'resumed exactly, no reset')

  const all = [...before, ...onB.events]
  t.same(all[0], { type: 'question', data: JSON.stringify({ text: question }), lastEventId: all[0].lastEventId })
  t.ok(all.slice(1).every((event) => event.type === 'token'))
  t.same(all.slice(1).map((event) => event.data), expected, 'every token once, in order: no duplicate, no gap')
  t.equal(new Set(all.map((event) => event.lastEventId)).size, all.length, 'distinct ids')

  const finalId = onB.parser.lastEventId
  for (const [name, { url }] of [['A', a], ['B', b]] as const) {
    const again = await fetch(`${url}/answers/${id}`, { headers: { 'last-event-id': finalId } })
    t.equal(again.status, 204, `a reconnect after the end: 204 on ${name}`)
    t.equal(await again.text(), '')
  }
  // A reload (no Last-Event-ID) on either instance: the whole answer, then the end.
  const reload = new RawSseClient(b.port, `/answers/${id}`)
  t.teardown(() => reload.close())
  await reload.responseEnd(10_000)
  t.equal(reload.events.slice(1).map((event) => event.data).join(''), answerText(question))
})

test('the answer routes refuse a bad question or id (400), before any stream', async (t) => {
  const { events } = await exampleModule<ExampleEvents>('events.mjs')
  const { answerRoutes } = await exampleModule<ExampleAnswerRoutes>('answer-routes.mjs')
  const { app, url } = await listen(t, { events }, (app: FastifyInstance) => { app.register(answerRoutes, { tokenDelayMs: 0 }) })
  const empty = await fetch(`${url}/answers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: '' }) })
  t.equal(empty.status, 400)
  t.equal((await fetch(`${url}/answers/a:b`)).status, 400, 'no odd characters in a topic name')
  t.equal(app.sse.stats().published, 0)
})
