/* global location, EventSource */
// The page: the guide's client side, with fastify-sse-hub/client for the streams that must not
// miss events and a plain EventSource for the analytics that need no history.
import { SseClient } from 'fastify-sse-hub/client'
import { lineChart } from './chart.js'

const $ = (selector) => document.querySelector(selector)
const userId = new URLSearchParams(location.search).get('user') ?? `user-${Math.random().toString(36).slice(2, 6)}`
for (const element of document.querySelectorAll('.user-id')) element.textContent = userId
$('#notify-user [name=userId]').value = userId

// --- Broadcast and named events: GET /events ----------------------------------------------------
const hub = new SseClient('/events') // in TypeScript: new SseClient<typeof events>('/events')
let countVersion = 0
hub.on('message', ({ text }) => addLine('#messages', text)) // what `onmessage` gets
hub.on('user-online', ({ clientId }) => addLine('#presence', `${clientId} came online`))
hub.on('user-count', ({ count }) => {
  countVersion++
  $('#online').textContent = count
})
hub.on('notification', (notification, event) => addNotification('#notifications', notification, event.lastEventId))
hub.onReset(async () => {
  // Events after our last id may be gone: reload what we derive from them.
  const version = countVersion
  const { online } = await (await fetch('/state')).json()
  if (version === countVersion) $('#online').textContent = online
})
track('broadcast', '/events', hub)

// --- Per-user notifications: GET /events/:userId --------------------------------------------------
const mine = new SseClient(`/events/${encodeURIComponent(userId)}`)
mine.on('notification', (notification, event) => addNotification('#my-notifications', notification, event.lastEventId))
track('user', `/events/${userId}`, mine)

// --- Live analytics: GET /analytics, with the browser's EventSource alone -----------------------
const analytics = new EventSource('/analytics')
const requestsChart = lineChart($('#chart-requests'), { label: 'Requests / s' })
const heapChart = lineChart($('#chart-heap'), { label: 'Heap used', unit: ' MB', digits: 1, fromZero: false })
let lastRequests
analytics.addEventListener('stats', (event) => {
  const stats = JSON.parse(event.data)
  $('#stat-activeUsers').textContent = stats.activeUsers
  $('#stat-connections').textContent = stats.connections
  $('#stat-published').textContent = stats.published
  $('#stat-uptime').textContent = `${stats.uptime.toFixed(0)} s`
  requestsChart(Math.max(0, stats.requests - (lastRequests ?? stats.requests))) // 0 after a restart
  lastRequests = stats.requests
  heapChart(stats.heapUsedMb)
})
analytics.onopen = () => showState('analytics', '/analytics', { state: 'open' })
analytics.onerror = () => showState('analytics', '/analytics', { state: analytics.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting' })

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

function showState (name, path, { state, attempt, delay }) {
  const badge = $(`[data-stream="${name}"]`)
  if (badge.dataset.state === state && attempt === undefined) return
  badge.dataset.state = state
  badge.querySelector('b').textContent = LABELS[state] + (attempt === undefined ? '' : ` · try ${attempt} in ${(delay / 1000).toFixed(1)} s`)
  log(`${path}: ${LABELS[state]}${attempt === undefined ? '' : ` (attempt ${attempt} in ${delay} ms)`}`)
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

globalThis.sse = { hub, mine, analytics } // to play with in the console
