/* global location, sessionStorage, EventSource, requestAnimationFrame */
// The page: the guide's client side on ONE stream (GET /events?user=<id>: broadcast, the user's
// topic and the analytics), with fastify-sse-hub/client so it misses nothing; and a resumable
// answer (GET /answers/:id) with the browser's EventSource alone.
import { SseClient } from 'fastify-sse-hub/client'
import { lineChart } from './chart.js'

const $ = (selector) => document.querySelector(selector)
const userId = new URLSearchParams(location.search).get('user') ?? `user-${Math.random().toString(36).slice(2, 6)}`
for (const element of document.querySelectorAll('.user-id')) element.textContent = userId
$('#notify-user [name=userId]').value = userId

// --- One stream for the page: GET /events?user=<id> ---------------------------------------------
// Browsers open at most six HTTP/1.1 connections per host, shared by all tabs, and an open stream
// holds one: a stream per panel would leave a second tab's fetches waiting for a free one.
const eventsPath = `/events?user=${encodeURIComponent(userId)}`
const hub = new SseClient(eventsPath) // in TypeScript: new SseClient<typeof events>(eventsPath)
let countVersion = 0
hub.on('message', ({ text }) => addLine('#messages', text)) // what `onmessage` gets
hub.on('user-online', ({ clientId }) => addLine('#presence', `${clientId} came online`))
hub.on('user-count', ({ count }) => {
  countVersion++
  $('#online').textContent = count
})
// Topics are not on the wire: the event name tells a notification for everyone from one for us.
hub.on('notification', (notification, event) => addNotification('#notifications', notification, event.lastEventId))
hub.on('user-notification', (notification, event) => addNotification('#my-notifications', notification, event.lastEventId))
hub.onReset(async () => {
  // Events after our last id may be gone: reload what we derive from them.
  const version = countVersion
  const { online } = await (await fetch('/state')).json()
  if (version === countVersion) $('#online').textContent = online
})
track('events', eventsPath, hub)
globalThis.sse = { hub, answer: undefined } // to play with in the console

// --- Live analytics: `stats` on the same stream, published every second ----------------------
const requestsChart = lineChart($('#chart-requests'), { label: 'Requests / s' })
const heapChart = lineChart($('#chart-heap'), { label: 'Heap used', unit: ' MB', digits: 1, fromZero: false })
let lastRequests
hub.on('stats', (stats) => {
  $('#stat-activeUsers').textContent = stats.activeUsers
  $('#stat-connections').textContent = stats.connections
  $('#stat-published').textContent = stats.published
  $('#stat-uptime').textContent = `${stats.uptime.toFixed(0)} s`
  requestsChart(Math.max(0, stats.requests - (lastRequests ?? stats.requests))) // 0 after a restart
  lastRequests = stats.requests
  heapChart(stats.heapUsedMb)
})

// --- Ask: a resumable answer, GET /answers/:id, with a plain EventSource ---------------------
// The answer runs on the server whatever the page does. The page remembers its id for the tab
// (sessionStorage): after a reload, `backfill: 'all'` sends the answer so far, then the rest
// follows live. Its tokens are verbatim text, not JSON. When the answer is complete the stream
// ends, the browser reconnects, gets 204 and stops for good (readyState CLOSED).
const ANSWER_KEY = 'fastify-sse-hub-example/answer'
let answer // the answer's EventSource
const ANSWER_LABELS = { idle: 'no answer', connecting: 'connecting', open: 'streaming', reconnecting: 'reconnecting', complete: 'complete', lost: 'lost' }

$('#ask-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const question = event.target.elements.question.value
  const response = await fetch('/answers', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question }) })
  const result = await response.json()
  if (!response.ok) return log(`POST /answers: ${result.message}`)
  sessionStorage.setItem(ANSWER_KEY, result.id)
  openAnswer(result.id)
})

// Keep the newest text in view, unless the reader scrolled up.
let followAnswer = true
let scrollPending = false
$('#answer-text').addEventListener('scroll', ({ target }) => {
  followAnswer = target.scrollHeight - target.scrollTop - target.clientHeight < 24
})

const remembered = sessionStorage.getItem(ANSWER_KEY)
if (remembered !== null) openAnswer(remembered)

function openAnswer (id) {
  answer?.close() // one answer at a time: every open stream holds a connection
  const box = $('#answer-text')
  box.textContent = ''
  followAnswer = true
  const text = box.appendChild(document.createTextNode(''))
  let tokens = 0
  $('#answer-question').textContent = ''
  for (const element of document.querySelectorAll('.answer-id')) element.textContent = id.slice(0, 8)
  const source = new EventSource(`/answers/${encodeURIComponent(id)}`)
  answer = source
  globalThis.sse.answer = source
  const show = (state) => {
    showState('answer', `/answers/${id.slice(0, 8)}…`, { state }, ANSWER_LABELS)
    $('#answer-meta').textContent = `${tokens.toLocaleString('en')} tokens · ${ANSWER_LABELS[state]}`
  }
  show('connecting')
  source.addEventListener('question', (event) => { $('#answer-question').textContent = JSON.parse(event.data).text })
  source.addEventListener('token', (event) => {
    text.appendData(event.data) // no layout here: a reload's backfill is thousands of tokens at once
    box.dataset.tokens = String(++tokens)
    if (tokens % 20 === 0) show('open')
    if (followAnswer && !scrollPending) {
      scrollPending = true
      requestAnimationFrame(() => {
        scrollPending = false
        box.scrollTop = box.scrollHeight
      })
    }
  })
  // Resuming failed (the server restarted, or the answer is older than the history): it is gone.
  source.addEventListener('sse-reset', () => {
    source.close()
    sessionStorage.removeItem(ANSWER_KEY)
    show('lost')
  })
  source.onopen = () => show('open')
  // CLOSED: the reconnect after the end was answered 204 (this route answers 200 or 204).
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) show('complete')
    else show('reconnecting')
  }
}

// --- Forms: publish through the routes -------------------------------------------------------------
for (const form of document.querySelectorAll('form[data-post]')) {
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    post(form, form.dataset.post)
  })
}
$('#notify-user').addEventListener('submit', (event) => {
  event.preventDefault()
  post(event.target, `/notify/${encodeURIComponent(event.target.elements.userId.value)}`)
})

async function post (form, url) {
  const body = Object.fromEntries(new FormData(form))
  delete body.userId // in the URL
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const result = await response.json()
  if (!response.ok) return log(`POST ${url}: ${result.message}`)
  for (const input of form.querySelectorAll('input:not([name=userId])')) input.value = ''
  if (url === '/broadcast') $('#broadcast-result').textContent = `Sent to ${result.sent} client${result.sent === 1 ? '' : 's'} · id ${result.id}`
}

// --- Connection state: connected, reconnecting (with the backoff), reset ----------------------------
const LABELS = { connecting: 'connecting', open: 'connected', reconnecting: 'reconnecting', closed: 'closed' }

function track (name, path, client) {
  client.onState((change) => showState(name, path, change))
  client.onReset(({ lastEventId, reason }) => {
    const badge = $(`[data-stream="${name}"]`)
    badge.dataset.reset = reason
    badge.title = `sse-reset (${reason}) after ${lastEventId}`
    log(`${path}: sse-reset, reason ${reason}, after id ${lastEventId}: state reloaded`)
  })
}

function showState (name, path, { state, attempt, delay }, labels = LABELS) {
  const badge = $(`[data-stream="${name}"]`)
  if (badge.dataset.state === state && attempt === undefined) return
  badge.dataset.state = state
  badge.querySelector('b').textContent = labels[state] + (attempt === undefined ? '' : ` · try ${attempt} in ${(delay / 1000).toFixed(1)} s`)
  log(`${path}: ${labels[state]}${attempt === undefined ? '' : ` (attempt ${attempt} in ${delay} ms)`}`)
}

// --- DOM helpers --------------------------------------------------------------------------------
function addLine (selector, text) {
  const item = document.createElement('li')
  item.textContent = text
  $(selector).prepend(item)
  trim($(selector))
}

function addNotification (selector, { title, message }, id) {
  const item = document.createElement('li')
  item.dataset.id = id
  const heading = item.appendChild(document.createElement('b'))
  heading.textContent = title
  if (message !== '') item.append(` ${message}`)
  $(selector).prepend(item)
  trim($(selector))
}

function log (text) {
  addLine('#connection-log', `${new Date().toLocaleTimeString()} ${text}`)
}

function trim (list) {
  while (list.children.length > 50) list.lastElementChild.remove()
}
