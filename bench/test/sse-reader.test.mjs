// The load generator's reader must see the same events however the bytes are split.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SseReader } from '../common/sse-reader.mjs'

function collect () {
  const seen = { head: null, ticks: [], events: [], errors: [], ended: false }
  const reader = new SseReader({
    head: (status, headers) => { seen.head = { status, headers } },
    tick: (seq, stamp) => seen.ticks.push([seq, stamp]),
    event: (type, data) => seen.events.push([type, data]),
    end: () => { seen.ended = true },
    error: (message) => seen.errors.push(message)
  })
  return { reader, seen }
}

function chunked (body, pieces) {
  let out = ''
  for (const piece of pieces) out += piece.length.toString(16) + '\r\n' + piece + '\r\n'
  return out + (body ? '0\r\n\r\n' : '')
}

const frames = [
  'retry: 3000\nid: e-0\n\n',
  'id: e-1\nevent: tick\ndata: {"s":0,"t":"123456789","p":"xx"}\n\n',
  ': a comment\n\n',
  'event: tick\r\nid: 2\r\ndata: {"s":1,"t":"123456790","p":""}\r\n\r\n',
  'event: other\ndata: one\ndata: two\n\n',
  'id: 3\nevent: tick\ndata: {"t":"5","s":2}\n\n'
]
const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n'
const wire = Buffer.from(head + chunked(true, frames))

function check (seen) {
  assert.deepEqual(seen.errors, [])
  assert.equal(seen.head.status, 200)
  assert.equal(seen.head.headers['content-type'], 'text/event-stream')
  assert.deepEqual(seen.ticks, [[0, 123456789], [1, 123456790], [2, 5]])
  assert.deepEqual(seen.events, [['other', 'one\ntwo']])
  assert.equal(seen.ended, true)
}

test('reads a whole response in one piece', () => {
  const { reader, seen } = collect()
  reader.push(wire)
  check(seen)
})

test('reads it split at every byte boundary', () => {
  for (let cut = 1; cut < wire.length; cut++) {
    const { reader, seen } = collect()
    reader.push(wire.subarray(0, cut))
    reader.push(wire.subarray(cut))
    check(seen)
  }
})

test('reads it one byte at a time', () => {
  const { reader, seen } = collect()
  for (let i = 0; i < wire.length; i++) reader.push(wire.subarray(i, i + 1))
  check(seen)
})

test('reads a body without chunked coding', () => {
  const { reader, seen } = collect()
  reader.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\n' + frames.join('')))
  assert.deepEqual(seen.ticks.map(([seq]) => seq), [0, 1, 2])
})

test('reports a broken chunk', () => {
  const { reader, seen } = collect()
  reader.push(Buffer.from(head + 'zz\r\n'))
  assert.equal(seen.errors.length, 1)
})

test('reads text tokens (the answers cells) split at every byte boundary', () => {
  const tokens = [
    'retry: 3000\n\n',
    'event: token\ndata: 0 3588788649475.....\n\n',
    'event: token\r\ndata: 1 3588790193922\r\n\r\n',
    'event: tokens\ndata: not a token\n\n',
    'event: token\ndata: 2 3588800337353.....\n\n'
  ]
  const bytes = Buffer.from(head + chunked(true, tokens))
  for (let cut = 1; cut < bytes.length; cut++) {
    const { reader, seen } = collect()
    reader.push(bytes.subarray(0, cut))
    reader.push(bytes.subarray(cut))
    assert.deepEqual(seen.errors, [])
    assert.deepEqual(seen.ticks, [[0, 3588788649475], [1, 3588790193922], [2, 3588800337353]])
    assert.deepEqual(seen.events, [['tokens', 'not a token']])
    assert.equal(seen.ended, true)
  }
})

test('reports a token without its number and stamp', () => {
  const { reader, seen } = collect()
  reader.push(Buffer.from(head + chunked(false, ['event: token\ndata: hello\n\n'])))
  assert.equal(seen.errors.length, 1)
  assert.match(seen.errors[0], /token data/)
})
